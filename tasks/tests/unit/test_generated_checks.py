"""What is generated or checked follows the settings and the stage graph: docs/stages.md's
version tag, the build-level jobs the graph needs, tests folders that name no target,
ARGs that look like pins without a `# pin:` line (in the lint and in docs/pins.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tasks import bakefile, docs
from tasks.lint import build_levels, run
from tasks.settings import load
from tasks.tests.cli.test_shapes import sister
from tasks.tests.support import PROJECT, write


def job(number: int) -> str:
    needs = "plan" if number == 1 else f"[plan, build-{number - 1}]"
    return (
        f"  build-{number}:\n    needs: {needs}\n    uses: ./.github/workflows/build-stage.yaml\n"
        f"    with:\n      matrix: ${{{{ needs.plan.outputs.level{number} }}}}\n"
    )


def workflow(levels: int) -> str:
    return "on: push\njobs:\n  plan:\n    runs-on: x\n" + "".join(map(job, range(1, levels + 1)))


def test_build_levels_follow_the_graph(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    graph = bakefile.load(repo / "docker-bake.hcl", environ={})
    assert build_levels.depth(graph) == 4
    write(repo, build_levels.WORKFLOW, workflow(4))
    assert build_levels.check(repo, graph) == []  # four levels: no job 5 or 6 asked for
    write(repo, build_levels.WORKFLOW, workflow(3))
    assert [f.message for f in build_levels.check(repo, graph)] == [
        "no job build-4: the stage graph (docker-bake.hcl) has 4 levels and level 4 is never "
        "built; add a job build-4 (needs: build-3, matrix: ${{ needs.plan.outputs.level4 }})"
    ]


def test_the_stages_doc_says_the_configured_version_tag(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    settings = dataclasses.replace(load(repo), version_tag="v7")
    docs.write(settings.root, settings.bake_path, settings.version_tag)
    text = (repo / docs.STAGES_DOC).read_text()
    assert "`:VERSION` (`v7`)" in text and "`v2`" not in text
    assert docs.stale(repo, settings.bake_path, "v7") is None
    problem = docs.stale(repo, settings.bake_path, "v8") or ""
    assert "version-tag v8" in problem and "run `nox -s docs`" in problem
    assert run.check("docs", settings, []) == []


def test_a_tests_folder_naming_no_target_is_a_lint_finding(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    findings = run.check("tests folders", load(repo), [])
    assert [(f.path, f.line) for f in findings] == [("tests/orphan", 1)]
    assert findings[0].message.startswith("tests/orphan/ names no target: its tests never run")


UNPINNED = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# pin: pypi tensorflow; evidence: https://pypi.org/project/tensorflow/2.15.0/
ARG TENSORFLOW_VERSION=2.15.0
ARG KERAS_VERSION=3.0.1
ARG DUCKDB_URL=https://github.com/duckdb/duckdb/releases/download/v1.0.0/duckdb_cli.zip
ARG DUCKDB_SHA256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ARG NB_USER=jovyan
ARG FROM_ARG=${TENSORFLOW_VERSION}
"""


def test_an_arg_that_looks_like_a_pin_without_one_is_one_finding_each(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    write(repo, "images/tensorflow/Dockerfile", UNPINNED)
    findings = run.check("unpinned args", load(repo), ["images/tensorflow/Dockerfile"])
    assert [(f.line, f.message.split(" looks")[0]) for f in findings] == [
        (5, "ARG KERAS_VERSION=3.0.1"),
        (
            6,
            "ARG DUCKDB_URL=https://github.com/duckdb/duckdb/releases/download/v1.0.0/duckdb_cli.zip",
        ),
        (7, "ARG DUCKDB_SHA256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    ]
    assert "(a version)" in findings[0].message
    assert "add above it: # pin: pypi keras; evidence: TEXT" in findings[0].message
    assert "add above it: # pin: url duckdb; evidence: TEXT" in findings[1].message
    assert "add above it: # pin: sha256 duckdb; evidence: TEXT" in findings[2].message
    # docs/pins.md counts them, beside the one pin it lists
    text = docs.generated_pins(repo, repo / "docker-bake.hcl")
    assert "**1 pins: 1 verified" in text
    assert (
        "**3 ARGs look like pins (a version, URL or checksum) but have no `# pin:` line**" in text
    )


def test_this_repository_has_no_unpinned_args() -> None:
    root = PROJECT
    dockerfiles = sorted(p.relative_to(root).as_posix() for p in root.glob("images/*/Dockerfile"))
    assert dockerfiles
    assert run.check("unpinned args", load(root), dockerfiles) == []
