"""The docker workflow's chain, replayed here: plan -> retag -> bake/test/push per build
level -> retest, as GitHub would run it, on the fixture stack, into a real registry."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import docker
import pytest

from tasks.tests.conftest import (
    clean_env,
    commit_all,
    git,
    manifest_digest,
    remove_images,
    write,
)
from tasks.tests.workflow_replay import Replay, nox_shim, project_stack

STAGES = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def _digest(registry: str, stage: str, tag: str) -> str | None:
    host, namespace = registry.split("/", 1)
    return manifest_digest(host, f"{namespace}/{stage}", tag)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return project_stack(tmp_path / "origin")


def _runner_checkout(origin: Path, folder: Path) -> Path:
    """What actions/checkout leaves with fetch-depth: 0: every branch under origin/."""
    shutil.rmtree(folder, ignore_errors=True)
    git(origin.parent, "clone", "-q", str(origin), str(folder))
    return folder


def test_the_docker_workflow_replayed_on_the_fixture_stack(
    origin: Path,
    tmp_path: Path,
    upstream: str,
    registry: str,
    engine: docker.DockerClient,
    nox_envdir: Path,
) -> None:
    summary = tmp_path / "step-summary.md"
    base_env = clean_env(
        UPSTREAM_IMAGE=upstream,
        GITHUB_ACTIONS="true",
        CI="true",
        GITHUB_STEP_SUMMARY=str(summary),
        **nox_shim(tmp_path / "bin", sys.executable, nox_envdir),
    )

    def fresh_runner(job: str) -> None:  # every job starts with none of the stack's images
        remove_images(engine, registry)

    # 1. The stack lands on master: a push event over the empty commit builds every stage,
    #    one build level after another, each taking its parent from the registry.
    empty = git(origin, "rev-parse", "HEAD~1")
    master = _runner_checkout(origin, tmp_path / "run-1")
    sha1 = git(master, "rev-parse", "HEAD")
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"before": empty, "after": sha1}))
    push_env = {
        **base_env,
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/master",
        "GITHUB_SHA": sha1,
    }
    variables = {"ZONE_REGISTRY": registry}  # the repository variable the workflows read
    replay = Replay(master, push_env, variables, before_job=fresh_runner)
    outputs = replay.run("docker.yaml")

    assert json.loads(outputs["plan"]["build"]) == STAGES
    assert replay.ran == [
        "plan",
        "build-1 / base",
        "build-2 / mid",
        "build-3 / sas-kernel",
        "build-4 / jupyterlab-cpu",
        "build-4 / sas",
    ]
    assert 'nox -s test -- "$STAGE"' in replay.commands
    for stage in STAGES:
        digests = {
            tag: _digest(registry, stage, tag) for tag in (sha1, sha1[:8], "master", "v2", "latest")
        }
        assert None not in digests.values() and len(set(digests.values())) == 1, (stage, digests)
    first_summary = summary.read_text()
    assert "### Plan for master" in first_summary and "### Built" in first_summary
    assert "### Tested" in first_summary and "### Pushed" in first_summary

    # 2. A pull request changes the sas leaf and jupyterlab-cpu's tests.
    git(origin, "checkout", "-q", "-b", "feature")
    write(origin, "images/sas/stage.txt", "sas, changed\n")
    write(origin, "tests/jupyterlab-cpu/test_more.py", "def test_more(image):\n    assert image\n")
    commit_all(origin, "a change to sas, a test for jupyterlab-cpu")
    git(origin, "checkout", "-q", "master")
    pull = _runner_checkout(origin, tmp_path / "run-2")
    git(pull, "checkout", "-q", "--detach", "origin/master")  # GitHub's merge commit
    git(pull, "merge", "-q", "--no-ff", "-m", "Merge feature", "origin/feature")
    sha2 = git(pull, "rev-parse", "HEAD")
    summary.write_text("")
    pr_env = {
        **base_env,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_BASE_REF": "master",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_REF": "refs/pull/1/merge",
        "GITHUB_SHA": sha2,
    }
    replay = Replay(pull, pr_env, variables, before_job=fresh_runner)
    outputs = replay.run("docker.yaml")

    plan = outputs["plan"]
    assert json.loads(plan["build"]) == ["sas"]
    assert json.loads(plan["reuse"]) == ["base", "mid", "sas-kernel", "jupyterlab-cpu"]
    assert json.loads(plan["retest"]) == ["jupyterlab-cpu"]
    assert replay.ran == [
        "plan",
        "retag",
        "build-1 / sas",
        "retest (jupyterlab-cpu)",
    ]
    # Every stage under this commit's SHA: reused ones are the very images of master.
    for stage in ("base", "mid", "sas-kernel", "jupyterlab-cpu"):
        assert _digest(registry, stage, sha2) == _digest(registry, stage, sha1), stage
        assert _digest(registry, stage, "feature") == _digest(registry, stage, sha1), stage
    new_sas = _digest(registry, "sas", sha2)
    assert new_sas and new_sas != _digest(registry, "sas", sha1)
    assert _digest(registry, "sas", "feature") == new_sas
    # A pull request moves neither v2 nor latest.
    assert _digest(registry, "sas", "latest") == _digest(registry, "sas", sha1)
    assert _digest(registry, "sas", "v2") == _digest(registry, "sas", sha1)
    text = summary.read_text()
    assert "### Plan for feature" in text and "### Reused" in text
    assert "### Pushed" in text and new_sas in text
    remove_images(engine, registry)
