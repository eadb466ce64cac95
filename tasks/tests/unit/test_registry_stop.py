"""How the runner stops its registry children after an interrupt (tasks.docker.engine): a child
cancelled by a signal is known by its own exit, and stopping ends its whole process group,
grandchildren included, even one that ignores SIGTERM."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tasks.docker import engine


@pytest.mark.parametrize(
    ("code", "stderr"),
    [  # what `docker buildx imagetools` said here when a signal reached it, by its timing
        (-2, ""),  # before its handlers were in
        (255, ""),  # the CLI, its plugin just started
        (130, "\n"),
        (143, ""),
        (1, 'ERROR: failed to do request: Head "http://x/v2/a/manifests/b": context canceled'),
        (1, "ERROR: failed to do request: Head ...: got 1 SIGTERM/SIGINTs, forcing shutdown"),
    ],
)
def test_a_cancelled_child_is_known_by_its_exit(code: int, stderr: str) -> None:
    assert engine._cancelled(code, stderr)


@pytest.mark.parametrize(
    ("code", "stderr"),
    [
        (1, "ERROR: unexpected status from HEAD request: 503 Service Unavailable"),
        (255, "ERROR: dial tcp 127.0.0.1:1: connect: connection refused"),
        (1, ""),
    ],
)
def test_a_registry_failure_is_not_a_cancel(code: int, stderr: str) -> None:
    assert not engine._cancelled(code, stderr)


@pytest.fixture
def stopping() -> Iterator[None]:
    yield
    engine._stopping.clear()  # module state: the next test starts a fresh run


def test_stopping_ends_the_childs_group_even_a_stubborn_grandchild(
    stopping: None, tmp_path
) -> None:
    ready = tmp_path / "ready"
    # A child in a session of its own (as imagetools starts them) whose grandchild ignores
    # SIGTERM and holds the pipes: as buildx under the docker CLI can.
    script = f"(trap '' TERM; touch {ready}; sleep 300) & wait"
    child = subprocess.Popen(
        ["sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():  # the grandchild has set its trap and is running
        assert time.monotonic() < deadline, "the grandchild did not start within 120 s"
        time.sleep(0.05)
    with engine._children_lock:
        engine._children.add(child)
    try:
        engine.stop_registry_work(grace=1.0)
        child.communicate(timeout=120)  # EOF: no member of the group holds the pipes
    finally:
        engine._children.discard(child)
        if child.poll() is None:
            os.killpg(child.pid, 9)
    assert engine._stopping.is_set()
    assert not engine._group_alive(child)  # zombies aside: nothing reaps orphans here
    with pytest.raises(engine.Stopped):
        engine.imagetools("inspect", "x")  # nothing starts after the stop
