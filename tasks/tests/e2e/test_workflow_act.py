"""docker.yaml (and the workflows it calls: plan.yaml, reused.yaml, and build-stage.yaml
once per build level) run by act, a real GitHub Actions engine, on the fixture stack,
into a real registry that wants a login; and release.yaml after it, up to the GitHub
release itself (GitHub's API is out of reach).

Stand-ins (fixtures/actions/, for actions GitHub serves and these machines cannot fetch):
setup-python, docker/login-action, upload-artifact, cosign-installer, cache, and checkout
(fetched for the step that checks out the runner's actions when called from another
repository, which is skipped here). Everything else is the workflows' and the setup
action's own: expressions, `needs`, status functions, matrices, called workflows,
outputs, the login's host, and the runner's nox sessions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.tests import act_run
from tasks.tests.act_run import project_stack, runner_checkout
from tasks.tests.support import (
    AuthRegistry,
    clean_env,
    commit_all,
    docker_config,
    git,
    remove_images,
    write,
)

STAGES = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]
DAEMON_CONFIG = Path("/etc/docker/daemon.json")
GUARDED = ("Free disk space", "Use the containerd image store")  # never under act


@pytest.fixture(scope="session")
def act_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """act's cache (its tool cache keeps the stand-in's Python venv) for this run."""
    return tmp_path_factory.mktemp("act-cache")


@pytest.fixture
def namespace(engine: docker.DockerClient, auth_registry: AuthRegistry) -> Iterator[str]:
    """ZONE_REGISTRY for one test: a namespace of its own in the registry."""
    prefix = f"{auth_registry.host}/act{uuid.uuid4().hex[:6]}"
    yield prefix
    # Deleting an image's last tag can take minutes on a busy engine: a patient client.
    patient = docker.from_env(timeout=900)
    for images in (prefix, f"{prefix}-kept"):  # -kept: what the fresh runners untagged
        remove_images(patient, images)


class Workflow:
    """docker.yaml of one project, run by act, as GitHub would for an event."""

    def __init__(
        self, tmp_path: Path, upstream: str, registry: AuthRegistry, prefix: str, cache: Path
    ) -> None:
        self.tmp_path = tmp_path
        self.registry = registry
        self.prefix = prefix
        self.cache = cache
        self.artifacts = tmp_path / "artifacts"
        self.env = clean_env(
            UPSTREAM_IMAGE=upstream,
            # No login yet: the workflow's login step writes it.
            DOCKER_CONFIG=str(docker_config(tmp_path / "docker-config", {})),
            STANDIN_ARTIFACTS=str(self.artifacts),
            STANDIN_CACHE=str(tmp_path / "actions-cache"),
            STANDIN_RUNNER_IMAGES=prefix,
        )
        self.runs = 0

    def run(
        self, checkout: Path, event: str, payload: dict, workflow: str = "docker.yaml"
    ) -> act_run.Run:
        self.runs += 1
        return act_run.run(
            checkout,
            workflow,
            event,
            payload,
            self.tmp_path / f"act-{self.runs}",
            self.env,
            {"ZONE_REGISTRY": self.prefix},  # the repository variable the workflows read
            {"REGISTRY_USERNAME": self.registry.user, "REGISTRY_PASSWORD": self.registry.password},
            self.cache,
        )

    def digest(self, stage: str, tag: str) -> str | None:
        return self.registry.digest(f"{self.namespace}/{stage}", tag)

    def tags(self, stage: str) -> set[str]:
        return self.registry.tags(f"{self.namespace}/{stage}")

    @property
    def namespace(self) -> str:
        return self.prefix.split("/", 1)[1]


@pytest.fixture
def workflow(
    tmp_path: Path, upstream: str, auth_registry: AuthRegistry, namespace: str, act_cache: Path
) -> Workflow:
    return Workflow(tmp_path, upstream, auth_registry, namespace, act_cache)


def _ran_in_waves(run: act_run.Run, *waves: list[str]) -> None:
    """Exactly these jobs ran, each wave's after every job of the wave before (act starts
    the jobs of one wave in an order of its own)."""
    started = list(run.jobs)
    assert sorted(started) == sorted(label for wave in waves for label in wave), run.tail()
    at = 0
    for wave in waves:
        assert sorted(started[at : at + len(wave)]) == sorted(wave), started
        at += len(wave)


def _setup_ran_safely(run: act_run.Run) -> None:
    """The setup action's own steps ran in every job; its destructive ones in none."""
    for job in run.jobs.values():
        assert job.steps.get("Install nox and uv") == "success", (job.label, job.steps)
        for step in GUARDED:
            assert step not in job.steps, (job.label, step)


def test_the_docker_workflow_under_act(
    tmp_path: Path, workflow: Workflow, engine: docker.DockerClient
) -> None:
    daemon_config = DAEMON_CONFIG.read_bytes() if DAEMON_CONFIG.exists() else None
    origin = project_stack(tmp_path / "origin")

    # 1. The stack lands on master: a push event over the empty commit builds every stage,
    #    one build level after another, each taking its parent from the registry.
    empty = git(origin, "rev-parse", "HEAD~1")
    master = runner_checkout(origin, tmp_path / "run-1")
    sha1 = git(master, "rev-parse", "HEAD")
    run = workflow.run(master, "push", {"before": empty, "after": sha1, "ref": "refs/heads/master"})

    assert run.returncode == 0, run.tail()
    plan = run.jobs["plan"]
    assert json.loads(plan.outputs["build"]) == STAGES
    _ran_in_waves(
        run,
        ["plan"],
        ["build-1 / base"],
        ["build-2 / mid"],
        ["build-3 / sas-kernel"],
        ["build-4 / jupyterlab-cpu", "build-4 / sas"],
    )
    assert all(job.result == "success" for job in run.jobs.values()), run.jobs
    _setup_ran_safely(run)
    for label in ("build-1 / base", "build-4 / sas"):  # logged in, with the login's host
        assert run.jobs[label].steps.get("Log in to the registry") == "success", label
    assert run.jobs["build-4 / sas"].steps.get("Test") == "success"
    assert "Test" not in run.jobs["build-1 / base"].steps  # base has no tests
    # cost ran for the tested stages, before their push: a first release here (no v2 yet).
    assert run.jobs["build-4 / sas"].steps.get("Cost") == "success"
    assert "Cost" not in run.jobs["build-1 / base"].steps
    for stage in STAGES:
        digests = {
            tag: workflow.digest(stage, tag) for tag in (sha1, sha1[:8], "master", "v2", "latest")
        }
        assert None not in digests.values() and len(set(digests.values())) == 1, (stage, digests)
    assert "### Plan for master" in plan.summary
    leaf = run.jobs["build-4 / jupyterlab-cpu"].summary
    assert "### Built" in leaf and "### Tested" in leaf and "### Pushed" in leaf
    assert "### Pull cost" in leaf and "first release" in leaf
    assert workflow.digest("jupyterlab-cpu", sha1) in leaf
    # The tests' JUnit XML, uploaded as the workflow names it.
    assert (workflow.artifacts / "test-results-sas" / "sas.xml").is_file()
    assert not (workflow.artifacts / "test-results-base").exists()

    # The SBOM cache the served images' jobs saved after their push holds the SBOM cost
    # made (push signs nothing under act: no OIDC token), under the image's ID: with the
    # containerd image store, the very digest the registry serves for it.
    for stage in ("jupyterlab-cpu", "sas"):
        saved = tmp_path / "actions-cache" / f"sbom-{stage}-{sha1}"
        pushed = workflow.digest(stage, sha1) or ""
        assert (saved / f"{pushed.replace(':', '-')}.spdx.json").is_file(), stage

    # 1b. release.yaml, once docker.yaml has pushed master: its notes (a first release:
    #     no release tag yet), from the registry. The gh step is GitHub's API: never here.
    finished = {"conclusion": "success", "event": "push", "head_sha": sha1, "name": "docker"}
    run = workflow.run(master, "workflow_run", {"workflow_run": finished}, "release.yaml")
    assert run.returncode == 0, run.tail()
    release = run.jobs["release"]
    assert release.steps.get("Write the release notes") == "success", release.steps
    assert "Create the dated release" not in release.steps
    assert "What this release costs to pull" in release.summary
    assert "No previous release" in release.summary
    assert "jupyterlab\\-cpu" in release.summary and "| sas |" in release.summary

    # 2. A pull request changes the sas leaf and jupyterlab-cpu's tests.
    git(origin, "checkout", "-q", "-b", "feature")
    write(origin, "images/sas/stage.txt", "sas, changed\n")
    write(origin, "tests/jupyterlab-cpu/test_more.py", "def test_more(image):\n    assert image\n")
    commit_all(origin, "a change to sas, a test for jupyterlab-cpu")
    git(origin, "checkout", "-q", "master")
    pull = runner_checkout(origin, tmp_path / "run-2")
    git(pull, "checkout", "-q", "--detach", "origin/master")  # GitHub's merge commit
    git(pull, "merge", "-q", "--no-ff", "-m", "Merge feature", "origin/feature")
    sha2 = git(pull, "rev-parse", "HEAD")
    event = {"number": 1, "pull_request": {"head": {"ref": "feature"}, "base": {"ref": "master"}}}
    run = workflow.run(pull, "pull_request", event)

    assert run.returncode == 0, run.tail()
    plan = run.jobs["plan"]
    assert json.loads(plan.outputs["build"]) == ["sas"]
    assert json.loads(plan.outputs["reuse"]) == ["base", "mid", "sas-kernel", "jupyterlab-cpu"]
    assert json.loads(plan.outputs["retest"]) == ["jupyterlab-cpu"]
    # retag and build-1 need only the plan; retest needs retag (act runs the two jobs of
    # the called reused.yaml one after the other, before or after build-1).
    retag, retest = "reused / retag", "reused / retest (jupyterlab-cpu)"
    _ran_in_waves(run, ["plan"], [retag, "build-1 / sas", retest])
    assert list(run.jobs).index(retag) < list(run.jobs).index(retest), list(run.jobs)
    assert all(job.result == "success" for job in run.jobs.values()), run.jobs
    _setup_ran_safely(run)
    # Every stage under this commit's SHA: reused ones are the very images of master.
    for stage in ("base", "mid", "sas-kernel", "jupyterlab-cpu"):
        assert workflow.digest(stage, sha2) == workflow.digest(stage, sha1), stage
        assert workflow.digest(stage, "feature") == workflow.digest(stage, sha1), stage
    new_sas = workflow.digest("sas", sha2)
    assert new_sas and new_sas != workflow.digest("sas", sha1)
    assert workflow.digest("sas", "feature") == new_sas
    # A pull request moves neither v2 nor latest.
    assert workflow.digest("sas", "latest") == workflow.digest("sas", sha1)
    assert workflow.digest("sas", "v2") == workflow.digest("sas", sha1)
    assert "### Plan for feature" in plan.summary
    assert "### Reused" in run.jobs["reused / retag"].summary
    assert "### Pushed" in run.jobs["build-1 / sas"].summary
    # The pull request's sas against master's v2: its changed file is a new layer.
    assert "### Pull cost" in run.jobs["build-1 / sas"].summary
    assert "COPY" in run.jobs["build-1 / sas"].summary
    assert new_sas in run.jobs["build-1 / sas"].summary
    # sas's job restored master's SBOM cache (the newest sbom-sas-*), which holds the
    # release's packages (master's sas is v2) under the key cost looks up first, the
    # digest the tag names: so the release's SBOM is not made again.
    release = (workflow.digest("sas", "v2") or "").replace(":", "-")
    assert run.jobs["build-1 / sas"].steps.get("Restore the SBOM cache") == "success"
    assert (tmp_path / "actions-cache" / f"sbom-sas-{sha1}" / f"{release}.json").is_file()
    assert "sas: the release's packages from the SBOM cache" in run.tail(100_000)
    assert (tmp_path / "actions-cache" / f"sbom-sas-{sha2}").is_dir()  # saved anew
    retested = workflow.artifacts / "test-results-jupyterlab-cpu" / "jupyterlab-cpu.xml"
    assert "test_more" in retested.read_text()
    # The developer's engine kept its configuration (the guarded step never restarts it).
    assert (DAEMON_CONFIG.read_bytes() if DAEMON_CONFIG.exists() else None) == daemon_config


def test_a_failing_image_test_pushes_nothing_of_its_stage(
    tmp_path: Path, workflow: Workflow
) -> None:
    """mid's own test fails: base is pushed, nothing of mid, and no child of mid builds."""
    origin = project_stack(tmp_path / "origin")
    write(origin, "tests/mid/test_mid.py", "def test_mid_fails(image):\n    assert not image\n")
    commit_all(origin, "a test mid fails")
    empty = git(origin, "rev-list", "--max-parents=0", "HEAD")
    master = runner_checkout(origin, tmp_path / "run-1")
    sha = git(master, "rev-parse", "HEAD")
    run = workflow.run(master, "push", {"before": empty, "after": sha, "ref": "refs/heads/master"})

    assert run.returncode != 0
    _ran_in_waves(run, ["plan"], ["build-1 / base"], ["build-2 / mid"])
    mid = run.jobs["build-2 / mid"]
    assert mid.result == "failure"
    assert mid.steps["Build"] == "success" and mid.steps["Test"] == "failure"
    assert "Push" not in mid.steps
    assert "### Tested" in mid.summary and "failed" in mid.summary
    assert "test_mid_fails" in (workflow.artifacts / "test-results-mid" / "mid.xml").read_text()
    tags = {sha, sha[:8], "master", "v2", "latest"}
    assert workflow.tags("base") >= tags
    # mid's build wrote its layer cache before the test; no image tag of it is there.
    assert workflow.tags("mid") <= {"buildcache-master"}
    for stage in STAGES[2:]:
        assert workflow.tags(stage) == set(), stage
