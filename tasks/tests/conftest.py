"""Shared scaffolding: throwaway git repositories, a real engine, a real registry, nox."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

PROJECT = Path(__file__).resolve().parents[2]
FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "images"
# The stand-in for quay.io/jupyter/datascience-notebook: a busybox rootfs, made here.
UPSTREAM = "zone-fixture/busybox:latest"  # made by .ci/provision-docker.sh
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def write(repo: Path, relative: str, text: str = "x\n") -> Path:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def commit_all(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without GitHub Actions' variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.pop("ZONE_REGISTRY", None)
    return {**env, **GIT_ENV, **extra}


def make_stack(path: Path, with_runner: bool = False) -> Path:
    """A git repository shaped like this project: the real bake file, fixture stages.

    with_runner also copies noxfile.py, pyproject.toml and tasks/ so that sessions run
    in it exactly as they do here.
    """
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "docker-bake.hcl", path)
    shutil.copytree(FIXTURE_IMAGES, path / "images")
    write(path, "tests/general/test_general.py", "def test_ok():\n    pass\n")
    write(path, "README.md", "# fixture stack\n")
    if with_runner:
        shutil.copy(PROJECT / "noxfile.py", path)
        shutil.copy(PROJECT / "pyproject.toml", path)
        shutil.copytree(
            PROJECT / "tasks",
            path / "tasks",
            ignore=shutil.ignore_patterns("tests", "__pycache__"),
        )
        write(path, ".gitignore", ".nox/\n__pycache__/\n")
    git(path, "init", "-q", "-b", "master")
    commit_all(path, "initial stack")
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack")


# --- a real engine and registry -------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The Docker engine. Missing is a failure, never a skip: CI provisions it."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run: bash .ci/provision-docker.sh")
    return client


def provisioned(engine: docker.DockerClient, ref: str) -> str:
    """An image that .ci/provision-docker.sh imports; missing is a failure, not a skip."""
    try:
        engine.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing: run bash .ci/provision-docker.sh")
    return ref


@pytest.fixture(scope="session")
def upstream(engine: docker.DockerClient) -> str:
    """The stand-in upstream image: a busybox rootfs."""
    return provisioned(engine, UPSTREAM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def registry(
    engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on a free loopback port, for this run.

    Yields the repository prefix to use; every image tagged under it is removed at the end.
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: apt-get install docker-registry")
    port = free_port()
    folder = tmp_path_factory.mktemp("registry")
    config = folder / "config.yml"
    # In memory: the filesystem driver writes tag links non-atomically, and BuildKit's
    # parallel pushes of many tags then sometimes read a half-written one (HTTP 500).
    config.write_text(
        "version: 0.1\n"
        "storage:\n  inmemory: {}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: error\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"docker-registry did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
    prefix = f"localhost:{port}/zt{uuid.uuid4().hex[:6]}"
    yield prefix
    process.terminate()
    process.wait(timeout=10)
    remove_images(engine, prefix)


def remove_images(engine: docker.DockerClient, prefix: str) -> None:
    """Remove the tags under `prefix`: only what this run made."""
    for image in engine.images.list():
        for tag in image.tags:
            if tag.startswith(prefix + "/"):
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(tag, noprune=False)


@pytest.fixture(scope="session")
def fixture_tag(engine: docker.DockerClient) -> str:
    """The JupyterLab fixture stack (jupyterlab-cpu, sas), built once per machine."""
    from tasks.tests import jupyter_stack  # it imports this module's helpers

    return jupyter_stack.stack(engine)


# --- driving the sessions as a user does ----------------------------------------------


@pytest.fixture(scope="session")
def nox_envdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One set of session venvs for every throwaway repository of this run."""
    return tmp_path_factory.mktemp("nox-envs")


def run_nox(
    repo: Path, envdir: Path, session: str, *posargs: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nox", "--envdir", str(envdir), "-f", str(repo / "noxfile.py")]
    argv += ["-s", session]
    if posargs:
        argv += ["--", *posargs]
    return subprocess.run(
        argv, cwd=repo, env=env or clean_env(), capture_output=True, text=True, timeout=900
    )


def run_tasks(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tasks ...` in `repo`: what a session runs, without nox around it."""
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        cwd=repo,
        env={**(env or clean_env()), "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
