"""Everything that touches Docker: preflight checks, registry look-ups, running buildx."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess

import docker
import docker.errors

from tasks import tags
from tasks.console import FAILURE, ZoneError, warn
from tasks.retry import Transient, classify

# Named contexts linking targets (`target:`) need buildx 0.10+ and, with the default
# `docker` driver, the BuildKit embedded in Docker Engine 23+.
MIN_BUILDX = (0, 10)
MIN_ENGINE = (23, 0)


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part) for part in match.groups(default="0")) if match else (0, 0, 0)


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@functools.cache
def client() -> docker.DockerClient:
    """A client whose engine answered a ping; one clear error otherwise."""
    try:
        engine = docker.from_env(timeout=30)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise ZoneError(
            f"cannot reach the Docker engine at {_where()}",
            hint="check that dockerd is running (`docker info` must answer) and that "
            "DOCKER_HOST, if set, points at it; on these machines: bash .ci/provision-docker.sh"
            f"\n(detail: {exc})",
        ) from None
    return engine


def buildx_version() -> tuple[int, ...]:
    try:
        result = subprocess.run(
            ["docker", "buildx", "version"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise ZoneError(
            "the docker command is not installed", hint="install the Docker CLI with buildx"
        ) from None
    if result.returncode != 0:
        raise ZoneError(
            "docker buildx is not installed (the docker CLI has no buildx plugin)",
            hint=f"install buildx {'.'.join(map(str, MIN_BUILDX))} or newer as a CLI plugin "
            "(Debian: docker-buildx, Docker's repos: docker-buildx-plugin)",
        )
    return _version(result.stdout.split(" ", 2)[1] if " " in result.stdout else result.stdout)


def preflight(builder: str | None, need_engine: bool = True) -> None:
    """Fail early, with what to do, when buildx or the engine cannot run a bake."""
    found = buildx_version()
    if found < MIN_BUILDX:
        raise ZoneError(
            f"docker buildx {'.'.join(map(str, found))} is too old for bake named contexts",
            hint=f"buildx {'.'.join(map(str, MIN_BUILDX))} or newer is needed; upgrade the plugin",
        )
    if not need_engine:
        return
    try:
        engine_version = _version(client().version().get("Version", ""))
    except docker.errors.DockerException as exc:
        raise ZoneError(f"the Docker engine at {_where()} failed to answer: {exc}") from None
    if builder is None and engine_version < MIN_ENGINE:
        raise ZoneError(
            f"Docker Engine {'.'.join(map(str, engine_version))} is too old: its BuildKit "
            "cannot link bake targets through named contexts",
            hint=f"Docker Engine {MIN_ENGINE[0]} or newer is needed, or pass --builder NAME "
            "with a docker-container or kubernetes buildx builder",
        )


def imagetools(*args: str) -> subprocess.CompletedProcess[str]:
    """`docker buildx imagetools ...`: registry work with the user's docker login, which
    needs no engine (remote builders) and moves no layers."""
    try:
        return subprocess.run(
            ["docker", "buildx", "imagetools", *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise ZoneError("the docker command is not installed", exit_code=FAILURE) from None


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr.strip().splitlines() or ["no detail"])[-1].removeprefix("ERROR: ")


def registry_digest(ref: str) -> str | None:
    """The digest the registry serves for `ref`; None when it has no such tag. Any other
    failure raises retry.classify's error (Transient when it may pass)."""
    result = imagetools("inspect", "--format", "{{json .Manifest.Digest}}", ref)
    if result.returncode == 0:
        return json.loads(result.stdout)
    if last_line(result).endswith(f"{ref}: not found"):
        return None
    raise classify(last_line(result), tags.registry_host(ref.rsplit(":", 1)[0]))


REVISION_LABEL = "org.opencontainers.image.revision"  # bake sets it on every image


def image_revision(ref: str) -> str | None:
    """The commit the image at `ref` was built from, by its revision label; None when it
    has none, or its platforms disagree, or the registry cannot say."""
    result = imagetools("inspect", "--format", "{{json .Image}}", ref)
    if result.returncode != 0:
        return None
    image = json.loads(result.stdout)
    # One image, or for a multi-platform index one per platform.
    images = [image] if "config" in image or "rootfs" in image else list(image.values())
    labels = [((i.get("config") or {}).get("Labels") or {}).get(REVISION_LABEL) for i in images]
    return labels[0] if labels and len(set(labels)) == 1 else None


def registry_has(ref: str) -> bool:
    """Does the registry serve `ref`? A registry that cannot be asked counts as not (the
    caller then builds instead), with a warning saying why."""
    try:
        return registry_digest(ref) is not None
    except (ZoneError, Transient) as exc:
        warn(f"cannot look up {ref} in its registry: {getattr(exc, 'message', exc)}")
        return False


def registry_has_strictly(ref: str) -> bool:
    """registry_has, but a refusal (log in first) is an error, not a "no"."""
    try:
        return registry_digest(ref) is not None
    except Transient as exc:
        warn(f"cannot look up {ref} in its registry: {exc}")
        return False


def run(argv: list[str]) -> int:
    """Run a docker command with the terminal attached (bake's progress is for people)."""
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        raise ZoneError("the docker command is not installed", exit_code=FAILURE) from None
