"""Everything that touches Docker: preflight checks, registry look-ups, running buildx."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import docker
import docker.errors

from tasks.console import FAILURE, ZoneError, warn
from tasks.shared.retry import Exhausted, classify, with_retries
from tasks.stack.references import ImageRef

T = TypeVar("T")

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


class Stopped(KeyboardInterrupt):
    """The run was interrupted. A docker child cancelled by the interrupt is not a
    registry error: nothing retries it, and no registry command starts after it."""


_stopping = threading.Event()
_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.RLock()  # stop_registry_work may interrupt a holder


def stop_registry_work(grace: float = 10.0) -> None:
    """After an interrupt: start no more registry commands, and end the running ones:
    each child's process group asked to stop (SIGTERM), then whatever of it still runs
    after `grace` seconds killed. The docker CLI may exit on SIGTERM while the buildx it
    started lives on, waiting on the registry (and holding the CLI's output open): left
    running, it could write a tag after the interrupt."""
    with _children_lock:
        _stopping.set()
        running = list(_children)
        for child in running:
            _end(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in running:
        while _group_alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        _end(child, signal.SIGKILL)


def _group_alive(child: subprocess.Popen[str]) -> bool:
    """Whether a process of the child's group still runs. Zombies are not counted: where
    nothing reaps orphans (a container's first process may not), they stay for good."""
    import psutil  # only after an interrupt

    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, OSError):
            zombie = process.info["status"] == psutil.STATUS_ZOMBIE
            if not zombie and os.getpgid(process.pid) == child.pid:
                return True
    return False


def _end(child: subprocess.Popen[str], how: signal.Signals) -> None:
    """Signal a docker child's whole process group: the CLI runs buildx as a child of its
    own, which a signal to the CLI alone may leave behind (still writing a tag, and
    holding the pipes the CLI's output is read from)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, how)


def imagetools(*args: str) -> subprocess.CompletedProcess[str]:
    """`docker buildx imagetools ...`: registry work with the user's docker login, which
    needs no engine (remote builders) and moves no layers. Safe to call from worker
    threads: an interrupt (stop_registry_work, or a signal reaching the child) raises
    Stopped instead of returning a failure that looks like the registry's.

    Each child leads a process group of its own, so Ctrl-C reaches this process alone,
    which stops the children (stop_registry_work) once it has marked the run as stopping:
    a worker thread never sees a child cancelled by a signal its main thread has not
    handled yet (and retries it as a registry failure)."""
    argv = ["docker", "buildx", "imagetools", *args]
    with _children_lock:
        if _stopping.is_set():
            raise Stopped
        try:
            child = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ZoneError("the docker command is not installed", exit_code=FAILURE) from None
        _children.add(child)
    try:
        stdout, stderr = child.communicate()
    except BaseException:  # an interrupt in this thread: the child must not live on
        _end(child, signal.SIGKILL)
        child.wait()
        raise
    finally:
        with _children_lock:
            _children.discard(child)
    if _stopping.is_set() or _cancelled(child.returncode, stderr):
        _stopping.set()
        raise Stopped
    return subprocess.CompletedProcess(argv, child.returncode, stdout, stderr)


def _cancelled(returncode: int, stderr: str) -> bool:
    """Whether a docker child ended because a signal reached it from elsewhere (e.g. a CI
    runner ending the whole process tree), not because the registry failed, decided from
    the child alone, as its waiting thread may see it end before the main thread has
    handled the same signal. The CLI answers, by how far it had got: killed
    before its handlers were in (a negative code), 255 or 128+signal with nothing said, or
    exit 1 saying its requests were cancelled or that it is "forcing shutdown"."""
    if returncode < 0 or _CANCELLED.search(stderr):
        return True
    return returncode in (130, 143, 255) and not stderr.strip()


_CANCELLED = re.compile(r"context canceled|SIGTERM/SIGINTs, forcing shutdown")


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr.strip().splitlines() or ["no detail"])[-1].removeprefix("ERROR: ")


def _host_of(ref: str) -> str:
    return ImageRef.parse(ref).host


def _inspect(ref: str, template: str) -> str | None:
    """imagetools inspect's output for `ref`; None when the registry has no such tag. Any
    other failure raises retry.classify's error (Transient when it may pass)."""
    result = imagetools("inspect", "--format", template, ref)
    if result.returncode == 0:
        return result.stdout
    if last_line(result).endswith(f"{ref}: not found"):
        return None
    raise classify(last_line(result), _host_of(ref))


def registry_digest(ref: str) -> str | None:
    """The digest the registry serves for `ref`; None when it has no such tag. Any other
    failure raises retry.classify's error (Transient when it may pass)."""
    found = _inspect(ref, "{{json .Manifest.Digest}}")
    return None if found is None else json.loads(found)


REVISION_LABEL = "org.opencontainers.image.revision"  # bake sets it on every image


def image_revision(ref: str) -> str | None:
    """The revision label of the image at `ref`; None when there is no such image, it
    has no label, or its platforms disagree. Failures raise as registry_digest's do."""
    found = _inspect(ref, "{{json .Image}}")
    if found is None:
        return None
    image = json.loads(found)
    # One image, or for a multi-platform index one per platform.
    images = [image] if "config" in image or "rootfs" in image else list(image.values())
    labels = [((i.get("config") or {}).get("Labels") or {}).get(REVISION_LABEL) for i in images]
    return labels[0] if labels and len(set(labels)) == 1 else None


class RegistryDown(ZoneError):
    """A registry that stayed down through every try: never read as "no such image"."""


def registry_down(ref: str, exhausted: Exhausted) -> RegistryDown:
    """The one message for a registry that stayed down through every try: it says the
    registry is down, never that images are missing."""
    host = _host_of(ref)
    return RegistryDown(
        f"the registry at {host} did not answer after {exhausted.attempts} tries "
        f"({exhausted.last})",
        hint=f"the registry is down or unreachable; nothing is missing from it. Check that "
        f"it answers (docker login {host}), then run this again (settings push-attempts and "
        "push-backoff set how long to keep trying)",
        exit_code=FAILURE,
    )


def with_registry_retries(
    action: Callable[[], T], what: str, ref: str, attempts: int, backoff: float
) -> T:
    """retry.with_retries, and a registry that stays down is said as such."""
    try:
        return with_retries(action, what, attempts, backoff)
    except Exhausted as exc:
        raise registry_down(ref, exc) from None


@dataclasses.dataclass(frozen=True)
class Lookups:
    """Registry look-ups for reuse: transient failures retried (push-attempts,
    push-backoff), a registry that stays down an error. A refusal (no login) is an error
    when refusal_is_error, else a warning and "not there" (bake then builds)."""

    attempts: int
    backoff: float
    refusal_is_error: bool

    def digest(self, ref: str) -> str | None:
        return self._look(lambda: registry_digest(ref), ref)

    def revision(self, ref: str) -> str | None:
        return self._look(lambda: image_revision(ref), ref)

    def _look(self, action: Callable[[], T | None], ref: str) -> T | None:
        try:
            return with_registry_retries(
                action, f"looking up {ref}", ref, self.attempts, self.backoff
            )
        except RegistryDown:
            raise
        except ZoneError as exc:  # a refusal, or an answer that is not an image
            if self.refusal_is_error:
                raise
            warn(f"cannot look up {ref} in its registry: {exc.message}")
            return None


def run(argv: list[str]) -> int:
    """Run a docker command with the terminal attached (bake's progress is for people)."""
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        raise ZoneError("the docker command is not installed", exit_code=FAILURE) from None
