"""What the runner's tests share: throwaway git repositories shaped like this project,
a real registry and ways to look inside it, docker CLI set-ups, running the runner and
its sessions as a user does. Fixtures are in conftest.py."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import urllib.response
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors
import pytest

PROJECT = Path(__file__).resolve().parents[2]
# Data the tests read (not tests), beside the tier folders.
FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_IMAGES = FIXTURES / "images"
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


# One mypy cache for the lint runs in every throwaway copy of the runner: a module whose
# file hashes the same is not checked again (5 s a run without it). mypy checks each
# file's hash, so a copy with a type error of its own still gets it reported.
MYPY_CACHE = {"MYPY_CACHE_DIR": str(Path(tempfile.gettempdir()) / "zone-tests-mypy-cache")}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without GitHub Actions' variables, plus `extra`.

    CI goes too: the runner under test behaves as on a laptop unless a test sets it
    (CI=true on the machine running this suite must not change what a test sees)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.pop("ZONE_REGISTRY", None)
    env.pop("CI", None)
    # Signatures are the subject of test_verified_reuse.py, which turns this on with keys.
    return {**env, **GIT_ENV, "ZONE_VERIFY_REUSE": "false", **MYPY_CACHE, **extra}


def make_stack(path: Path, with_runner: bool = False) -> Path:
    """A git repository shaped like this project: the real bake file, fixture stages.

    with_runner also copies noxfile.py, pyproject.toml, uv.lock, the lint's hooks and
    tasks/ so that sessions run in it exactly as they do here.
    """
    path.mkdir(parents=True, exist_ok=True)
    pin_upstream(path / "docker-bake.hcl", UPSTREAM)
    shutil.copytree(FIXTURE_IMAGES, path / "images")
    write(path, "tests/general/test_general.py", "def test_ok():\n    pass\n")
    write(path, "README.md", "# fixture stack\n")
    if with_runner:
        for name in ("noxfile.py", "pyproject.toml", "uv.lock"):
            shutil.copy(PROJECT / name, path)
        shutil.copytree(
            PROJECT / "tasks",
            path / "tasks",
            ignore=shutil.ignore_patterns("tests", "__pycache__"),
        )
        write(path, ".gitignore", ".nox/\n__pycache__/\n")
    git(path, "init", "-q", "-b", "master")
    commit_all(path, "initial stack")
    return path


def pin_upstream(bake_file: Path, image: str) -> None:
    """The project's bake file, with `image` as UPSTREAM_IMAGE's default: the stand-in is
    then the commit's own pin, and UPSTREAM_IMAGE=image in the environment changes nothing
    (another value would make every build custom: tasks/planning/unpinned.py)."""
    text = (PROJECT / "docker-bake.hcl").read_text()
    pinned, count = re.subn(
        r'(variable "UPSTREAM_IMAGE" \{\s*default = )"[^"]*"', rf'\1"{image}"', text
    )
    assert count == 1, "docker-bake.hcl has no UPSTREAM_IMAGE default to pin"
    bake_file.write_text(pinned)


def provisioned(engine: docker.DockerClient, ref: str) -> str:
    """An image that .ci/provision-docker.sh imports; missing is a failure, not a skip."""
    try:
        engine.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing: run bash .ci/provision-docker.sh")
    return ref


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_registry(folder: Path, htpasswd: Path | None = None) -> tuple[subprocess.Popen, int]:
    """Start Debian's docker-registry on a free loopback port; wait until it answers."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: apt-get install docker-registry")
    port = free_port()
    config = folder / "config.yml"
    # In memory: the filesystem driver writes tag links non-atomically, and BuildKit's
    # parallel pushes of many tags then sometimes read a half-written one (HTTP 500).
    auth = f"auth:\n  htpasswd:\n    realm: zone-tests\n    path: {htpasswd}\n" if htpasswd else ""
    config.write_text(
        "version: 0.1\n"
        "storage:\n  inmemory: {}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: error\n" + auth
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except urllib.error.HTTPError:  # 401: up, and asking for credentials
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"docker-registry did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
    return process, port


@dataclasses.dataclass(frozen=True)
class AuthRegistry:
    """A real registry that wants a login (htpasswd), and ways to look inside it."""

    port: int
    user: str
    password: str

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def digest(self, name: str, tag: str) -> str | None:
        """The digest the registry serves for NAME:TAG (NAME without host), None if absent."""
        return manifest_digest(self.host, name, tag, (self.user, self.password))

    def tags(self, name: str) -> set[str]:
        response = _registry_get(self.host, f"{name}/tags/list", (self.user, self.password))
        return set(json.load(response)["tags"] or []) if response else set()


def manifest_digest(
    host: str, name: str, tag: str, login: tuple[str, str] | None = None
) -> str | None:
    """The digest a registry serves for NAME:TAG (NAME without host), None if absent."""
    response = _registry_get(host, f"{name}/manifests/{tag}", login, method="HEAD")
    return response.headers["Docker-Content-Digest"] if response else None


def manifest_layers(host: str, name: str, reference: str) -> list[dict]:
    """The layers of the linux/amd64 manifest behind NAME:REFERENCE (a tag or digest; an
    index is followed), as the registry API serves them: digest and compressed size."""
    response = _registry_get(host, f"{name}/manifests/{reference}", None)
    assert response is not None, f"{host}/{name}:{reference} is not in the registry"
    document = json.load(response)
    for entry in document.get("manifests", []):
        if entry.get("platform", {}).get("architecture") == "amd64":
            return manifest_layers(host, name, entry["digest"])
    return document["layers"]


def _registry_get(
    host: str, path: str, login: tuple[str, str] | None, method: str = "GET"
) -> urllib.response.addinfourl | None:
    """The registry API's answer at /v2/PATH; None for a 404."""
    request = urllib.request.Request(f"http://{host}/v2/{path}", method=method)
    if login:
        token = base64.b64encode(":".join(login).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    request.add_header("Accept", MANIFEST_TYPES)
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def docker_config(folder: Path, logins: dict[str, tuple[str, str]]) -> Path:
    """A DOCKER_CONFIG folder holding `logins` (host -> user, password), as `docker login`
    writes them, with the buildx plugin beside (the CLI looks for plugins there)."""
    folder.mkdir(parents=True, exist_ok=True)
    auths = {
        host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for host, (user, password) in logins.items()
    }
    (folder / "config.json").write_text(json.dumps({"auths": auths}))
    plugins = folder / "cli-plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "docker-buildx").symlink_to(installed_buildx())
    return folder


# Where the docker CLI looks for plugins after DOCKER_CONFIG/cli-plugins, in its order
# (docker/cli, cli-plugins/manager): the first one found wins.
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def installed_buildx() -> str:
    """The buildx plugin the docker CLI runs here: per user or system-wide."""
    home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    for folder in (home / "cli-plugins", *map(Path, SYSTEM_PLUGIN_DIRS)):
        if (folder / "docker-buildx").is_file():
            return str(folder / "docker-buildx")
    pytest.fail("the buildx plugin is missing: run bash .ci/provision-docker.sh")


def without_buildx(folder: Path) -> dict[str, str]:
    """clean_env() whose `docker` is the real CLI without buildx, wherever the plugin is
    installed: a system-wide plugin is found whatever DOCKER_CONFIG says, so a `docker`
    first on PATH answers `buildx` as the CLI answers an unknown command, and passes
    everything else to the real one."""
    real = shutil.which("docker")
    if real is None:
        pytest.fail("the docker CLI is missing: run bash .ci/provision-docker.sh")
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "docker"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = buildx ]; then\n'
        "  echo 'docker: unknown command: docker buildx' >&2\n"
        "  exit 1\n"
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return clean_env(PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


# How deep a test's names go under its prefix (PREFIX/cost1234/base: two).
NAME_DEPTH = 3


def remove_images(engine: docker.DockerClient, prefix: str) -> None:
    """Remove the tags under `prefix`, at any depth: only what this run made.

    Listed by reference alone: the whole list is slow, and the SDK's images.list() inspects
    each image after listing, which fails when another run removes one in between. An
    image's last tag costs the containerd image store a garbage collection, which the
    engine waits for; collections asked for together run as one, so the images' last tags
    go in parallel (6 images: 2.0 s, against 5.1 s one after another)."""
    tags: dict[str, set[str]] = {}
    for depth in range(1, NAME_DEPTH + 1):
        for image in engine.api.images(filters={"reference": prefix + "/*" * depth}):
            mine = {t for t in image.get("RepoTags") or [] if t.startswith(prefix + "/")}
            if mine:
                tags.setdefault(image["Id"], set()).update(mine)
    lasts = []
    for of_image in tags.values():
        *untag, last = sorted(of_image)
        for tag in untag:  # the image stays: no collection
            _remove(engine, tag)
        lasts.append(last)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda tag: _remove(engine, tag), lasts))


def _remove(engine: docker.DockerClient, tag: str) -> None:
    with contextlib.suppress(docker.errors.APIError):  # gone already, or in use
        engine.images.remove(tag, noprune=False)


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


def run_in_process(
    repo: Path,
    *args: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m tasks ...` called in this process (tasks.cli.main, in `repo`, with only
    `env` in the environment), answered as run_tasks answers: for tests of how arguments
    and settings are read, which need no process of their own. The exit path itself (exit
    code, no traceback, nothing half-written) is run_tasks's to test."""
    from tasks import cli

    environ = env or clean_env()
    monkeypatch.chdir(repo)
    for key in set(os.environ) - set(environ):
        monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["python", "-m", "tasks", *args], code, out, err)
