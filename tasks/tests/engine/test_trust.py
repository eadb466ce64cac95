"""Issue 10: an image under a SHA tag is exactly that commit, a registry that is down is
said to be down, an interrupt writes no tag, and git's refusals are said as such.

Everything is real: git repositories in temp folders, the engine, buildx, and
docker-registry processes started (and stopped) here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import psutil
import pytest

from tasks.tests.registry_proxy import CuttingProxy
from tasks.tests.support import (
    PROJECT,
    clean_env,
    commit_all,
    git,
    make_stack,
    manifest_digest,
    remove_images,
    run_tasks,
    serve_registry,
    write,
)

ATTEMPTS = 2  # tries per registry request in these tests; the waits between are short
STAGES = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack", with_runner=True)


@pytest.fixture
def env(upstream: str) -> dict[str, str]:
    return clean_env(
        UPSTREAM_IMAGE=upstream,
        ZONE_PUSH_ATTEMPTS=str(ATTEMPTS),
        ZONE_PUSH_BACKOFF="0.1",
    )


class Registry:
    """A docker-registry of this test's own, which the test may stop."""

    def __init__(self, folder: Path) -> None:
        self.process, self.port = serve_registry(folder)
        self.host = f"localhost:{self.port}"
        self.prefix = f"{self.host}/trust{uuid.uuid4().hex[:6]}"

    def digest(self, stage: str, tag: str) -> str | None:
        namespace = self.prefix.split("/", 1)[1]
        return manifest_digest(f"127.0.0.1:{self.port}", f"{namespace}/{stage}", tag)

    def tags(self, stage: str) -> set[str]:
        namespace = self.prefix.split("/", 1)[1]
        url = f"http://127.0.0.1:{self.port}/v2/{namespace}/{stage}/tags/list"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return set(json.load(response)["tags"] or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return set()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_registry(tmp_path: Path, engine: docker.DockerClient) -> Iterator[Registry]:
    registry = Registry(tmp_path)
    yield registry
    registry.stop()
    remove_images(engine, registry.prefix)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def _labels(engine: docker.DockerClient, ref: str) -> dict[str, str]:
    return engine.images.get(ref).labels or {}


# --- 1. an image under a SHA tag is exactly that commit --------------------------------


def test_a_dirty_build_gets_no_sha_tag_and_push_guards_sha_tags(
    repo: Path, env, own_registry: Registry, engine: docker.DockerClient
) -> None:
    prefix = own_registry.prefix
    sha = git(repo, "rev-parse", "HEAD")
    _ok(run_tasks(repo, "bake", "sas", "--repo", prefix, env=env))
    _ok(run_tasks(repo, "push", "sas", "--repo", prefix, env=env))
    clean = own_registry.digest("sas", sha)
    assert clean and own_registry.digest("sas", "latest") == clean
    # Pushed twice: the same image again is no overwrite.
    _ok(run_tasks(repo, "push", "sas", "--repo", prefix, env=env))
    assert own_registry.digest("sas", sha) == clean

    # A dirty tree: an untracked file, an unstaged edit, a staged one.
    write(repo, "images/sas/untracked.txt", "not committed\n")
    write(repo, "images/sas/stage.txt", "edited, not committed\n")
    write(repo, "images/mid/staged.txt", "staged\n")
    git(repo, "add", "images/mid/staged.txt")
    baked = _ok(run_tasks(repo, "bake", "sas", "--repo", prefix, env=env))
    assert f"images get the tag {sha[:8]}-dirty, not this commit's SHA tags" in baked
    assert "images/mid/staged.txt, images/sas/stage.txt, images/sas/untracked.txt" in baked
    dirty_ref = f"{prefix}/sas:{sha[:8]}-dirty"
    dirty = engine.images.get(dirty_ref)
    assert set(dirty.tags) == {dirty_ref, f"{prefix}/sas:master"}  # no SHA, v2 or latest
    assert dirty.labels["org.opencontainers.image.revision"] == f"{sha}-dirty"
    assert engine.images.get(f"{prefix}/sas:{sha}").id != dirty.id  # the clean one stays
    # The plan's machine-readable forms still name the commit.
    outputs = repo.parent / "github-output"
    planned = run_tasks(
        repo, "plan", "--json", "--github-output", env={**env, "GITHUB_OUTPUT": str(outputs)}
    )
    document = json.loads(planned.stdout)
    assert document["sha"] == sha
    assert document["stages"][-1]["tags"] == [
        f"k8scc01covidacr.azurecr.io/sas:{t}" for t in ("master", f"{sha[:8]}-dirty")
    ]
    assert f"sha={sha}\n" in outputs.read_text()

    refused = run_tasks(repo, "push", "sas", "--repo", prefix, env=env)
    assert refused.returncode == 2, refused.stderr
    assert f"not built from a commit, so not pushed: {prefix}/sas (revision {sha}-dirty)" in (
        refused.stderr
    )
    assert "--allow-dirty" in refused.stderr
    in_ci = run_tasks(
        repo, "push", "sas", "--repo", prefix, "--allow-dirty", env={**env, "CI": "true"}
    )
    assert in_ci.returncode == 2, in_ci.stderr
    assert "--allow-dirty is refused in CI" in in_ci.stderr
    assert f"{sha[:8]}-dirty" not in own_registry.tags("sas")

    _ok(run_tasks(repo, "push", "sas", "--repo", prefix, "--allow-dirty", env=env))
    assert own_registry.digest("sas", f"{sha[:8]}-dirty") == own_registry.digest("sas", "master")
    for tag in (sha, sha[:8], "v2", "latest"):
        assert own_registry.digest("sas", tag) == clean, tag

    # Another build of the same commit (a fresh runner, no cache): its SHA tags are taken.
    git(repo, "stash", "-q", "--include-untracked")
    remove_images(engine, prefix)
    _ok(run_tasks(repo, "bake", "sas", "--repo", prefix, "--no-cache", env=env))
    assert _labels(engine, f"{prefix}/sas:{sha}")["org.opencontainers.image.revision"] == sha
    again = run_tasks(repo, "push", "sas", "--repo", prefix, env=env)
    assert again.returncode == 1, again.stderr
    assert f"the registry already serves another image under {prefix}/sas:{sha} ({clean})" in (
        again.stderr
    )
    assert "never overwritten, so nothing was pushed" in again.stderr
    assert "pushing " not in again.stderr
    for tag in (sha, sha[:8], "v2", "latest"):
        assert own_registry.digest("sas", tag) == clean, tag
    assert "Traceback" not in refused.stderr + in_ci.stderr + again.stderr


def test_reuse_never_takes_a_dirty_image(
    repo: Path, env, own_registry: Registry, engine: docker.DockerClient
) -> None:
    prefix = own_registry.prefix
    # master's sas-kernel pushed from a dirty tree only (its SHA tag is never pushed).
    write(repo, "images/sas_kernel/uncommitted.txt", "dirty\n")
    _ok(run_tasks(repo, "bake", "sas-kernel", "--repo", prefix, env=env))
    _ok(run_tasks(repo, "push", "sas-kernel", "--repo", prefix, "--allow-dirty", env=env))
    assert own_registry.digest("sas-kernel", "master")
    (repo / "images/sas_kernel/uncommitted.txt").unlink()
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "feature\n")
    commit_all(repo)
    remove_images(engine, prefix)

    result = run_tasks(repo, "bake", "sas", "--changed", "--repo", prefix, env=env)

    output = _ok(result)
    master = git(repo, "rev-parse", "master")
    assert (
        f"{prefix}/sas-kernel:master was built from uncommitted files ({master}-dirty): "
        "not reused" in output
    )
    assert "note: building base, mid, sas-kernel, sas\n" in output


# --- 3. transient is not missing -------------------------------------------------------


@pytest.fixture
def pushed_master(repo: Path, env, own_registry: Registry) -> tuple[str, str]:
    """Every stage of master pushed; a feature branch that changes only sas."""
    _ok(run_tasks(repo, "bake", "--repo", own_registry.prefix, "--push", env=env))
    master = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", f"sas {uuid.uuid4().hex}\n")
    return master, commit_all(repo)


def test_a_registry_that_is_down_is_said_to_be_down(
    repo: Path, env, own_registry: Registry, pushed_master, engine: docker.DockerClient
) -> None:
    prefix = own_registry.prefix
    remove_images(engine, prefix)
    own_registry.stop()
    down = f"the registry at {own_registry.host} did not answer after {ATTEMPTS} tries"

    retag = run_tasks(repo, "retag", "--repo", prefix, env=env)
    assert retag.returncode == 1, retag.stderr
    assert down in retag.stderr
    assert f"try 2 of {ATTEMPTS}" in retag.stderr  # retried, as push does
    assert "no image to retag" not in retag.stderr

    bake = run_tasks(repo, "bake", "sas", "--changed", "--repo", prefix, env=env)
    assert bake.returncode == 1, bake.stderr
    assert down in bake.stderr
    assert "note: building" not in bake.stderr and "building it" not in bake.stderr
    assert "Traceback" not in retag.stderr + bake.stderr


def test_a_registry_that_goes_down_mid_retag_is_said_to_be_down(
    repo: Path, env, own_registry: Registry, pushed_master
) -> None:
    master, sha = pushed_master
    proxy = CuttingProxy(own_registry.port)
    try:
        prefix = f"127.0.0.1:{proxy.port}/{own_registry.prefix.split('/', 1)[1]}"
        proxy.arm(allowed=1)  # the look-ups of master's SHA tag, then down at the first write
        result = run_tasks(repo, "retag", "--repo", prefix, env=env)
    finally:
        proxy.close()
    assert result.returncode == 1, result.stderr
    assert proxy.tags == [master] and proxy.refused
    assert f"the registry at 127.0.0.1:{proxy.port} did not answer after {ATTEMPTS} tries" in (
        result.stderr
    )
    assert "no image to retag" not in result.stderr
    assert all(own_registry.digest(stage, sha) is None for stage in STAGES)


# --- 2. every way a process can end ----------------------------------------------------


@pytest.mark.parametrize("to", ["process group", "process alone"])
def test_an_interrupted_retag_writes_no_tag_after_it(
    to: str, repo: Path, env, own_registry: Registry, engine: docker.DockerClient
) -> None:
    # master's images, pushed without moving tags: so a `latest` later is the retag's.
    push_env = {**env, "ZONE_RELEASE_BRANCH": "none"}
    _ok(run_tasks(repo, "bake", "--repo", own_registry.prefix, "--push", env=push_env))
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "feature\n")
    sha = commit_all(repo)
    assert all("latest" not in own_registry.tags(stage) for stage in STAGES)
    proxy = CuttingProxy(own_registry.port)
    proxy.hold_writes = True  # no tag write is answered: the retag is mid-way, and stays so
    prefix = f"127.0.0.1:{proxy.port}/{own_registry.prefix.split('/', 1)[1]}"
    # feature is the release branch this time: its tags end with v2 and latest.
    retag_env = {**env, "ZONE_RELEASE_BRANCH": "feature", "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks", "retag", "--repo", prefix],
        cwd=repo,
        env=retag_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # The look-ups, then the first tag write (a loaded machine takes its time).
        assert proxy.held.wait(timeout=300), "the retag wrote no tag within 300 s"
        assert process.poll() is None, process.communicate()[1]
        if to == "process group":  # Ctrl-C in a terminal
            os.killpg(process.pid, signal.SIGINT)
        else:  # e.g. a CI runner's cancel
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        at_exit = len(proxy.requests)
        left = _left_in_session(process.pid)  # a docker child left behind would write
        late = proxy.requests[at_exit:]
    finally:
        if process.poll() is None:
            process.kill()
        proxy.close()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert "try 2" not in stderr and "failed" not in stderr  # a cancelled child is no error
    assert left == [] and late == []
    for stage in STAGES:
        assert {"latest", "v2"}.isdisjoint(own_registry.tags(stage)), stage
    assert own_registry.digest("sas", sha) is None  # rebuilt, never retagged


def _left_in_session(session: int) -> list[str]:
    """The processes still in the session the retag led, once it has exited: its docker
    children end with it, though a child's own children may take a moment to follow."""
    deadline = time.monotonic() + 30
    while True:
        left = []
        for process in psutil.process_iter(["pid", "cmdline", "status"]):
            with contextlib.suppress(OSError, psutil.Error):
                if os.getsid(process.pid) == session and process.info["status"] != "zombie":
                    left.append(" ".join(process.info["cmdline"] or []))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# `python -m tasks plan`, held at the import of tasks.stack.bakefile until a signal comes: the
# runner is surely mid-way through loading its modules when it is interrupted, however
# loaded the machine (it cannot have finished first). Then the same __main__ runs.
HELD_AT_BAKEFILE = """
import runpy, signal, sys

class Hold:
    def find_spec(self, name, path=None, target=None):
        if name == "tasks.stack.bakefile":
            sys.meta_path.remove(self)
            sys.stderr.write("held at tasks.stack.bakefile\\n")
            sys.stderr.flush()
            signal.pause()
        return None

sys.meta_path.insert(0, Hold())
sys.argv = ["tasks", "plan"]
runpy.run_module("tasks", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_while_the_runner_starts_ends_quietly(repo: Path) -> None:
    """The signal lands while the runner's modules load (tasks.stack.bakefile is being imported;
    git, docker and the rest still to come), once the runner has said it is there."""
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_AT_BAKEFILE],
        cwd=repo,
        env={**clean_env(), "PYTHONPATH": str(PROJECT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # blocks until the runner is held there
        assert first == "held at tasks.stack.bakefile\n", first + process.stderr.read()
        process.send_signal(signal.SIGINT)
        output = process.stderr.read()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert output == "interrupted\n"


def test_a_closed_stdout_ends_quietly(repo: Path) -> None:
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'{sys.executable} -m tasks plan --json | head -c0; echo "exit ${{PIPESTATUS[0]}}" >&2',
        ],
        cwd=repo,
        env={**clean_env(), "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "exit 141"
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert "BrokenPipe" not in result.stderr


# --- 4. repositories git will not read --------------------------------------------------


def test_a_repository_of_another_user_says_what_to_run(tmp_path: Path) -> None:
    """git refuses a repository that another user owns (the usual failure in container
    CI jobs, where the checkout belongs to the runner's user). We are root: the folder
    goes to nobody (65534), and an empty global config holds no safe.directory."""
    assert os.getuid() == 0, "this test makes another user's repository: it runs as root"
    repo = make_stack(tmp_path / "theirs")
    sha = git(repo, "rev-parse", "HEAD")
    subprocess.run(["chown", "-R", "65534:65534", str(tmp_path / "theirs")], check=True)
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    result = run_tasks(repo, "plan", env=clean_env(GIT_CONFIG_GLOBAL=str(empty)))
    assert result.returncode == 2, result.stderr
    assert f"git refuses to read the repository at {repo}: it belongs to another user" in (
        result.stderr
    )
    assert f"git config --global --add safe.directory {repo}" in result.stderr
    assert "not a git repository" not in result.stderr and "Traceback" not in result.stderr
    # What the message says to run makes it work.
    empty.write_text(f"[safe]\n\tdirectory = {repo}\n")
    trusted = run_tasks(repo, "plan", "--json", env=clean_env(GIT_CONFIG_GLOBAL=str(empty)))
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["sha"] == sha


def test_a_repository_with_no_commit_yet_says_so(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    subprocess.run(["rm", "-rf", str(repo / ".git")], check=True)
    git(repo, "init", "-q", "-b", "master")
    result = run_tasks(repo, "plan")
    assert result.returncode == 2, result.stderr
    assert f"the git repository at {repo} has no commit yet" in result.stderr
    assert "git add -A && git commit" in result.stderr
    assert "not a git repository" not in result.stderr and "Traceback" not in result.stderr
