"""The unit tier's guard: a test here that reaches Docker fails, whatever it did with the
error. It fails at once on an engine fixture; a Docker SDK connection or a `docker`
command is refused where it starts and reported when the test ends."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tasks.tests.conftest import ENGINE_FIXTURES


class ReachedDocker(ConnectionRefusedError):
    """A unit test tried to reach the Docker engine (refused before it went out)."""


class DockerGuard:
    def __init__(self) -> None:
        self.reached: list[str] = []

    def refuse(self, what: str) -> ReachedDocker:
        self.reached.append(what)
        return ReachedDocker(f"the unit tier reaches no Docker engine: {what}")


@pytest.fixture(autouse=True)
def docker_guard(request: pytest.FixtureRequest, monkeypatch) -> Iterator[DockerGuard]:
    wanted = sorted(ENGINE_FIXTURES & set(request.fixturenames))
    if wanted:
        pytest.fail(
            f"a unit test uses {', '.join(wanted)}: move it to tasks/tests/engine/ (or e2e/)",
            pytrace=False,
        )
    guard = DockerGuard()
    connect = socket.socket.connect
    popen_init = subprocess.Popen.__init__

    def guarded_connect(sock: socket.socket, address, *args, **kwargs):
        if sock.family == socket.AF_UNIX and "docker" in str(address):
            raise guard.refuse(f"a connection to {address}")
        return connect(sock, address, *args, **kwargs)

    def guarded_popen(process: subprocess.Popen, args, *rest, **kwargs):
        program = args if isinstance(args, (str, bytes, os.PathLike)) else args[0]
        name = os.path.basename(os.fsdecode(program).split()[0]) if program else ""
        if name in ("docker", "docker-buildx", "dockerd", "buildctl"):
            process._child_created = False  # what Popen.__del__ reads
            raise guard.refuse(f"the command {program!s}")
        popen_init(process, args, *rest, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    # An engine named by DOCKER_HOST (tcp://...) is refused too: none is named here.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    yield guard
    if guard.reached:
        pytest.fail(
            "a unit test reached Docker (" + "; ".join(guard.reached) + "): move it to "
            "tasks/tests/engine/ or e2e/",
            pytrace=False,
        )
