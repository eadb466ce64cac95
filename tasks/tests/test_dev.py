"""`nox -s dev` on the fixture jupyterlab-cpu: served on 127.0.0.1 only, gone after Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from tasks.tests import jupyter_stack
from tasks.tests.conftest import PROJECT, clean_env, free_port, run_tasks

READY = re.compile(r"ready: (http://\S+)")


class _Dev:
    """A dev server process, its stderr collected line by line as it comes."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=PROJECT,
            env=clean_env(PYTHONPATH=str(PROJECT)),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its own process group, as in a terminal
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def url(self, within: float = 600) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := READY.search(line):
                    return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.process.kill()
        pytest.fail("dev printed no URL:\n" + "".join(self.lines[-40:]))

    def interrupt(self) -> int:
        """Ctrl-C in a terminal: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=90)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=90)


def _dev_ids(engine: docker.DockerClient) -> set[str]:
    """The dev containers, by the labels dev sets. One listing call: containers.list()
    inspects each one after listing, and fails on one removed in between."""
    filters = {"label": ["io.zone.project=zone-kubeflow-containers", "io.zone.role=dev"]}
    return {c["Id"] for c in engine.api.containers(all=True, filters=filters)}


def _new_container(engine: docker.DockerClient, before: set[str], port: int | None = None):
    """The dev container this test started: new since `before`, and on `port` when given
    (other runs on this shared engine may start dev containers meanwhile)."""
    started = [engine.containers.get(new) for new in _dev_ids(engine) - before]
    if port is not None:
        started = [
            c
            for c in started
            if any(
                int(b["HostPort"]) == port
                for b in (c.attrs["HostConfig"]["PortBindings"] or {}).get("8888/tcp") or []
            )
        ]
    (container,) = started
    return container


def _outside_address() -> str | None:
    """This machine's address on its default route: not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP connect
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_nox_dev_serves_on_loopback_only_and_ctrl_c_removes_it(
    engine, fixture_tag: str, nox_envdir: Path
) -> None:
    before = _dev_ids(engine)
    argv = [sys.executable, "-m", "nox", "--envdir", str(nox_envdir), "-s", "dev", "--"]
    argv += ["jupyterlab", "--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--no-browser"]
    dev = _Dev(argv)
    try:
        url = dev.url()
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "<title>JupyterLab</title>" in response.read().decode()
        port = int(url.split(":")[2].split("/")[0])
        container = _new_container(engine, before, port)
        bindings = container.attrs["NetworkSettings"]["Ports"]["8888/tcp"]
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
        assert {int(b["HostPort"]) for b in bindings} == {port}
        if outside := _outside_address():
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=3).close()
        assert dev.interrupt() == 0, "".join(dev.lines[-20:])
        assert "removed " + container.name in "".join(dev.lines)
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(container.id)
    finally:
        if dev.process.poll() is None:
            dev.process.kill()


def test_sigterm_exits_0_and_a_taken_port_is_said_plainly(engine, fixture_tag: str) -> None:
    before = _dev_ids(engine)
    port = free_port()
    argv = [sys.executable, "-m", "tasks", "dev", "jupyterlab-cpu", "--port", str(port)]
    argv += ["--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--no-browser"]
    dev = _Dev(argv)
    try:
        dev.url()
        taken = run_tasks(PROJECT, *argv[3:])
        assert taken.returncode == 2
        assert f"port {port} on 127.0.0.1 is already in use" in taken.stderr
        assert re.search(r"the next free one is (\d+): add --port \1", taken.stderr)
        assert dev.stop(signal.SIGTERM) == 0
        assert _dev_ids(engine) - before == set()
    finally:
        if dev.process.poll() is None:
            dev.process.kill()


def _gone(engine: docker.DockerClient, container_id: str, within: float = 90) -> bool:
    """Whether the container is removed, polling: after SIGTERM to nox alone, the runner
    notices its parent is gone and then cleans up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if container_id not in _dev_ids(engine):
            return True
        time.sleep(0.5)
    return False


@pytest.mark.parametrize(
    ("runner", "signum", "to"),
    [
        ("nox", signal.SIGHUP, "process group"),  # the terminal closed
        ("nox", signal.SIGTERM, "nox alone"),  # a supervisor's or CI's stop
        ("tasks", signal.SIGHUP, "process alone"),
    ],
    ids=["nox-SIGHUP-group", "nox-SIGTERM-alone", "tasks-SIGHUP-alone"],
)
def test_every_stop_signal_removes_the_container(
    engine, fixture_tag: str, nox_envdir: Path, runner: str, signum: int, to: str
) -> None:
    before = _dev_ids(engine)
    options = ["--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--no-browser"]
    if runner == "nox":
        argv = [sys.executable, "-m", "nox", "--envdir", str(nox_envdir), "-s", "dev", "--"]
    else:
        argv = [sys.executable, "-m", "tasks", "dev"]
    port = free_port()
    dev = _Dev([*argv, "jupyterlab", "--port", str(port), *options])
    try:
        dev.url()
        container = _new_container(engine, before, port)
        if to == "process group":
            os.killpg(dev.process.pid, signum)
        else:
            dev.process.send_signal(signum)
        dev.process.wait(timeout=90)
        assert _gone(engine, container.id), "".join(dev.lines[-20:])
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(container.id)
    finally:
        if dev.process.poll() is None:
            dev.process.kill()


def test_a_missing_image_gets_the_same_message_as_test() -> None:
    result = run_tasks(PROJECT, "dev", "sas", "--repo", jupyter_stack.REPO, "--tag", "absent")
    assert result.returncode == 2
    assert "zone-fixture/sas:absent is not in the local Docker engine" in result.stderr
    assert "nox -s bake -- sas" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "--port 70000 is not a port number"),
        (["--host", "192.0.2.55"], "--host 192.0.2.55 is not an address of this machine"),
        (["--nb-prefix", "notebook/x"], "--nb-prefix 'notebook/x' must start with /"),
        (["--mount", "/nonexistent/folder"], "--mount /nonexistent/folder: no such folder"),
    ],
)
def test_bad_input_is_one_message(fixture_tag: str, flags: list[str], message: str) -> None:
    result = run_tasks(
        PROJECT, "dev", "sas", "--repo", jupyter_stack.REPO, "--tag", fixture_tag, *flags
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
