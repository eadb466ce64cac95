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
    assert build_levels.check(repo, graph, 6) == []  # four levels: no job 5 or 6 asked for
    write(repo, build_levels.WORKFLOW, workflow(3))
    assert [f.message for f in build_levels.check(repo, graph, 6)] == [
        "no job build-4: the stage graph (docker-bake.hcl) has 4 levels and level 4 is never "
        "built; add a job build-4 (needs: build-3, matrix: ${{ needs.plan.outputs.level4 }})"
    ]


def chain(length: int) -> str:
    """A bake file of `length` stages, each built on the one before."""
    targets = ['target "s1" {\n  context = "images/s1"\n}\n']
    for n in range(2, length + 1):
        targets.append(
            f'target "s{n}" {{\n  context = "images/s{n}"\n'
            f'  contexts = {{ s{n - 1} = "target:s{n - 1}" }}\n}}\n'
        )
    return "".join(targets)


def test_build_levels_follow_the_ci_levels_setting(tmp_path: Path) -> None:
    graph = bakefile.parse(chain(8), "docker-bake.hcl", {})
    assert build_levels.depth(graph) == 8
    write(tmp_path, build_levels.WORKFLOW, workflow(8))
    assert build_levels.check(tmp_path, graph, 8) == []  # the setting raised: all is right
    assert [f.message for f in build_levels.check(tmp_path, graph, 6)] == [
        "the stage graph (docker-bake.hcl) has 8 levels, but the plan outputs 6 (setting "
        "[tool.zone] ci-levels): add jobs build-7 ... build-8 to .github/workflows/docker.yaml "
        "(each needing the one before, its matrix the plan's levelN, exported in the plan "
        "job's outputs) and set ci-levels = 8 under [tool.zone] in pyproject.toml"
    ]
    write(tmp_path, build_levels.WORKFLOW, workflow(7))
    assert [f.message for f in build_levels.check(tmp_path, graph, 8)] == [
        "no job build-8: the stage graph (docker-bake.hcl) has 8 levels and level 8 is never "
        "built; add a job build-8 (needs: build-7, matrix: ${{ needs.plan.outputs.level8 }})"
    ]
    write(tmp_path, build_levels.WORKFLOW, workflow(9))
    assert [f.message for f in build_levels.check(tmp_path, graph, 8)] == [
        "build-9: the plan outputs 8 levels (setting [tool.zone] ci-levels); set ci-levels to "
        "the number of build-N jobs in pyproject.toml"
    ]


def test_a_level_job_reads_what_the_plan_job_exports(tmp_path: Path) -> None:
    graph = bakefile.parse(chain(2), "docker-bake.hcl", {})
    plan_job = "  plan:\n    runs-on: x\n    outputs:\n      level1: x\n"
    write(tmp_path, build_levels.WORKFLOW, "on: push\njobs:\n" + plan_job + job(1) + job(2))
    assert [(f.line, f.message) for f in build_levels.check(tmp_path, graph, 2)] == [
        (
            3,
            "the plan job's outputs lack level2, which build-2 reads; add "
            "level2: ${{ steps.plan.outputs.level2 }}",
        )
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
