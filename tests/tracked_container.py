"""A container of this test run: labelled with the run, on a free loopback port, always
removed, and its logs at hand when a test fails.

`nox -s test` gives each run an id (ZONE_TEST_RUN); every container and volume made here
carries it, and cleanup removes only those: never another run's, never anyone else's.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

import docker
import docker.errors
import pytest
import requests

PROJECT_LABEL = "io.zone.project"
RUN_LABEL = "io.zone.run"
PROJECT = "zone-kubeflow-containers"
RUN_ID = os.environ.get("ZONE_TEST_RUN") or uuid.uuid4().hex[:12]
RUN_LABELS = {PROJECT_LABEL: PROJECT, RUN_LABEL: RUN_ID}
DEFAULT_PREFIX = "/notebook/username/notebookname"
READY_WITHIN = 120  # seconds for a server to answer: the smoke tests' time limit
LOG_LINES = 40
NOT_FOUND_GRACE = 10  # seconds of 404s under the prefix before giving up

_live: list[TrackedContainer] = []  # for the logs shown when a test fails


def live() -> list[TrackedContainer]:
    """The containers made and not yet removed, oldest first."""
    return list(_live)


class TrackedContainer:
    """One container of this run: labelled, removed by remove().

    A server (the default) gets a free 127.0.0.1 port for 8888; a helper (`serves=False`)
    that runs a command and exits gets none, as it may be gone before its port is read.
    """

    def __init__(
        self, engine: docker.DockerClient, image: str, serves: bool = True, **options
    ) -> None:
        environment = {"NB_PREFIX": DEFAULT_PREFIX, **options.pop("environment", {})}
        self.prefix = environment["NB_PREFIX"].rstrip("/")
        self.container = engine.containers.run(
            image,
            detach=True,
            environment=environment,
            # The engine picks a free port as it binds: no race with the tests of another
            # image running beside this one.
            ports={"8888/tcp": ("127.0.0.1", None)} if serves else {},
            labels=dict(RUN_LABELS),
            **options,
        )
        _live.append(self)
        self.port = self._bound_port(image) if serves else None

    def _bound_port(self, image: str) -> int:
        self.container.reload()
        bound = self.container.ports.get("8888/tcp")
        if not bound:
            pytest.fail(f"{image} published no port ({self.container.status}):\n{self.logs()}")
        return int(bound[0]["HostPort"])

    @property
    def url(self) -> str:
        """The server's address under its prefix, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def logs(self, lines: int = LOG_LINES) -> str:
        with contextlib.suppress(docker.errors.APIError):
            return self.container.logs(tail=lines).decode(errors="replace")
        return "(no logs: the container is gone)"

    def wait_ready(self, path: str = "/api/status", within: float = READY_WITHIN) -> None:
        """Poll until the server answers 200 under the prefix; fail with logs if it never does."""
        deadline = time.monotonic() + within
        not_found_since = None
        while time.monotonic() < deadline:
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                pytest.fail(f"the container exited before answering:\n{self.logs()}")
            with contextlib.suppress(requests.RequestException):
                status = requests.get(self.url + path, timeout=2).status_code
                if status == 200:
                    return
                # A server that keeps saying 404 is up, but not under this prefix.
                not_found_since = (not_found_since or time.monotonic()) if status == 404 else None
                if not_found_since and time.monotonic() - not_found_since > NOT_FOUND_GRACE:
                    pytest.fail(
                        f"the server is up but {self.url + path} is not found: "
                        f"is NB_PREFIX={self.prefix} honoured?\n{self.logs()}"
                    )
            time.sleep(0.2)
        pytest.fail(f"no answer at {self.url + path} within {within:.0f}s:\n{self.logs()}")

    def exec(self, *command: str, timeout: int = 60, user: str = "") -> str:
        """Run a command inside; fail on a non-zero exit. `timeout` (coreutils) bounds it."""
        code, output = self.container.exec_run(
            ["timeout", str(timeout), *command], user=user, demux=False
        )
        text = output.decode(errors="replace")
        if code == 124:
            pytest.fail(f"{command} did not finish within {timeout}s")
        assert code == 0, f"{command} exited {code}: {text}"
        return text

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True, v=True)
        if self in _live:
            _live.remove(self)


def remove_leftovers(engine: docker.DockerClient) -> None:
    """Remove this run's containers and volumes that a test left behind (a crash, an
    interrupt): found by this run's labels, so nothing of anyone else's is touched."""
    mine = {"label": [f"{key}={value}" for key, value in RUN_LABELS.items()]}
    for container in engine.containers.list(all=True, filters=mine):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
    for volume in engine.volumes.list(filters=mine):
        with contextlib.suppress(docker.errors.NotFound):
            volume.remove(force=True)
