"""`plan --estimate`: the release's layers a change replaces, with their sizes, read from a
real registry holding a release of the fixture stack that real buildx built and pushed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tasks import charts
from tasks.cost import size
from tasks.tests.support import (
    clean_env,
    commit_all,
    free_port,
    git,
    make_stack,
    manifest_layers,
    remove_images,
    run_tasks,
    write,
)

STAGES = ("base", "mid", "sas-kernel", "jupyterlab-cpu", "sas")


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, upstream: str, registry: str, engine):  # type: ignore[no-untyped-def]
    """master's five stages pushed as the release (v2), in a namespace of this module's."""
    repo = make_stack(tmp_path_factory.mktemp("estimate") / "stack")
    prefix = f"{registry}/estimate{uuid.uuid4().hex[:6]}"
    env = clean_env(UPSTREAM_IMAGE=upstream, ZONE_PUSH_ATTEMPTS="2", ZONE_PUSH_BACKOFF="0.1")
    _ok(run_tasks(repo, "bake", "--repo", prefix, env=env))
    _ok(run_tasks(repo, "push", *STAGES, "--repo", prefix, env=env))
    yield repo, prefix, env
    remove_images(engine, prefix)


def _branch(repo: Path, name: str) -> None:
    git(repo, "checkout", "-q", "-B", name, "master")


def _estimate(repo: Path, prefix: str, env: dict[str, str]) -> tuple[dict, str]:
    result = run_tasks(repo, "plan", "--estimate", "--json", "--repo", prefix, env=env)
    _ok(result)
    document = json.loads(result.stdout)
    return {one["stage"]: one for one in document["estimate"]}, result.stderr


def _release_layers(prefix: str, stage: str) -> list[dict]:
    host, namespace = prefix.split("/", 1)
    return manifest_layers(host, f"{namespace}/{stage}", "v2")


def test_a_file_read_late_in_base_replaces_its_layers_from_there_on(
    released, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    repo, prefix, env = released
    _branch(repo, "new-script")
    write(repo, "images/base/bin/zone-hello", "#!/bin/sh\necho changed\n")
    commit_all(repo)
    page = tmp_path / "summary.md"
    found, stderr = _estimate(repo, prefix, {**env, "GITHUB_STEP_SUMMARY": str(page)})
    assert list(found) == list(STAGES)  # every stage is rebuilt: base is everyone's parent
    base = found["base"]
    # base's own instructions: COPY stage.txt, COPY bin/, RUN cat. The second runs again.
    assert base["first_rebuilt_index"] == 1
    assert base["first_rebuilt_instruction"] == "COPY bin/ /usr/local/bin/"
    assert "images/base/bin/zone-hello (COPY, Dockerfile:5)" in base["why"]
    manifest = _release_layers(prefix, "base")
    assert base["release_layers"] == len(manifest)
    # The release's own last two layers, by compressed digest and size from the manifest.
    assert [(x["blob"], x["compressed"]) for x in base["replaced_layers"]] == [
        (x["digest"], x["size"]) for x in manifest[-2:]
    ]
    assert base["replaced_bytes"] == sum(x["size"] for x in manifest[-2:])
    # A child of a rebuilt parent: its own layers and the parent's replaced ones.
    mid = found["mid"]
    assert (mid["first_rebuilt_index"], mid["why"]) == (0, "parent base is rebuilt")
    mid_manifest = _release_layers(prefix, "mid")
    assert [x["blob"] for x in mid["replaced_layers"]] == [x["digest"] for x in mid_manifest[-4:]]
    assert mid["replaced_bytes"] == sum(x["size"] for x in mid_manifest[-4:])
    served = next(line for line in stderr.splitlines() if line.startswith("a node pulls again"))
    assert served.startswith("a node pulls again: jupyterlab-cpu ") and ", sas " in served
    # The job summary draws what each served image pulls again, largest layers first; a
    # stage with children (base, mid, sas-kernel) is in the table only.
    markdown = page.read_text()
    assert markdown.count("```mermaid") == 2
    for stage in ("jupyterlab-cpu", "sas"):
        one = found[stage]
        title = f"{stage}: {size(one['replaced_bytes'])} to pull again (estimate)"
        items = [(x["instruction"], x["compressed"]) for x in one["replaced_layers"]]
        assert all(text for text, _ in items)  # BuildKit recorded every instruction
        assert charts.mermaid(title, charts.bars(items)) in markdown
        assert f'"{charts.label(title, 80)}"' in markdown
    assert "base: " not in "".join(markdown.split("```mermaid")[1:])


def test_an_instruction_added_at_the_end_replaces_no_layer(released) -> None:  # type: ignore[no-untyped-def]
    repo, prefix, env = released
    _branch(repo, "sas-env")
    dockerfile = repo / "images" / "sas" / "Dockerfile"
    write(repo, "images/sas/Dockerfile", dockerfile.read_text() + "ENV ZONE_ADDED=1\n")
    commit_all(repo)
    found, stderr = _estimate(repo, prefix, env)
    assert list(found) == ["sas"]  # only sas is rebuilt
    assert found["sas"]["replaced_layers"] == [] and found["sas"]["replaced_bytes"] == 0
    assert found["sas"]["why"] == "the Dockerfile changed here"
    assert "a node pulls again: sas 0 B" in stderr


def test_a_stage_without_a_release_is_all_new(released, registry: str) -> None:  # type: ignore[no-untyped-def]
    repo, _, env = released
    _branch(repo, "first")
    write(repo, "images/sas/stage.txt", "sas, first release\n")
    commit_all(repo)
    nowhere = f"{registry}/estimate-none{uuid.uuid4().hex[:6]}"
    found, stderr = _estimate(repo, nowhere, env)
    assert found["sas"]["release_layers"] == 0 and found["sas"]["replaced_bytes"] is None
    assert found["sas"]["release"] == f"{nowhere}/sas:v2"
    assert "a node pulls again: sas every layer (no release yet)" in stderr.splitlines()


def test_a_registry_that_refuses_is_one_message(released) -> None:  # type: ignore[no-untyped-def]
    repo, _, env = released
    _branch(repo, "refused")
    write(repo, "images/sas/stage.txt", "sas, refused\n")
    commit_all(repo)
    closed = f"127.0.0.1:{free_port()}/nothing"
    result = run_tasks(repo, "plan", "--estimate", "--repo", closed, env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr and "error" in result.stderr.lower()
    # Without --estimate the plan reads no registry: the same plan works.
    _ok(run_tasks(repo, "plan", "--repo", closed, env=env))
