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
import urllib.error
import urllib.request
from pathlib import Path

import docker
import psutil
import pytest

from tasks.docker.dev import http_status
from tasks.tests import jupyter_stack
from tasks.tests.support import PROJECT, clean_env, free_port, run_tasks

READY = re.compile(r"ready: (http://\S+)")


class _Dev:
    """A dev server process, its stderr collected line by line as it comes. Every wait is
    for an event (the ready line, the exit) with a safety net sized for a loaded machine
    (the fixture JupyterLab starting beside other work), whose expiry says what it awaited."""

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
        self._ready: str | None = None
        self._said = threading.Event()  # the ready line came, or the output ended
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if self._ready is None and (match := READY.search(line)):
                self._ready = match.group(1)
                self._said.set()
        self._said.set()

    def url(self, within: float = 600) -> str:
        self._said.wait(timeout=within)
        if self._ready is None:
            self.process.kill()
            pytest.fail(
                f"dev printed no ready URL within {within:g} s (or ended first):\n"
                + "".join(self.lines[-40:])
            )
        return self._ready

    def ended(self, after: str, within: float = 300) -> int:
        """The exit code, once dev has stopped its container and exited after `after`."""
        try:
            return self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(
                f"dev did not exit within {within:g} s of {after}:\n" + "".join(self.lines[-40:])
            )

    def interrupt(self) -> int:
        """Ctrl-C in a terminal: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.ended("Ctrl-C (SIGINT to its process group)")

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.ended(f"signal {signal.Signals(signum).name}")


def _on_port(engine: docker.DockerClient, port: int) -> list:
    """The dev containers (created or running) that publish host `port`: the one a test
    started, whatever other dev servers run on the same engine meanwhile."""
    filters = {"label": ["io.zone.project=zone-kubeflow-containers", "io.zone.role=dev"]}
    found = []
    for container in engine.containers.list(all=True, filters=filters, ignore_removed=True):
        bindings = (container.attrs["HostConfig"].get("PortBindings") or {}).get("8888/tcp")
        if any(int(b["HostPort"]) == port for b in bindings or []):
            found.append(container)
    return found


def _dev_ids(engine: docker.DockerClient) -> set[str]:
    """The dev containers, by the labels dev sets. One listing call: containers.list()
    inspects each one after listing, and fails on one removed in between."""
    filters = {"label": ["io.zone.project=zone-kubeflow-containers", "io.zone.role=dev"]}
    return {c["Id"] for c in engine.api.containers(all=True, filters=filters)}


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
    argv = [sys.executable, "-m", "nox", "--envdir", str(nox_envdir), "-s", "dev", "--"]
    argv += ["jupyterlab", "--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--no-browser"]
    dev = _Dev(argv)
    try:
        url = dev.url()
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "<title>JupyterLab</title>" in response.read().decode()
        port = int(url.split(":")[2].split("/")[0])
        (container,) = _on_port(engine, port)
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
        assert _on_port(engine, port)
        assert dev.stop(signal.SIGTERM) == 0
        assert _on_port(engine, port) == []
    finally:
        if dev.process.poll() is None:
            dev.process.kill()


def _gone(engine: docker.DockerClient, container_id: str, within: float = 300) -> bool:
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
    options = ["--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--no-browser"]
    if runner == "nox":
        argv = [sys.executable, "-m", "nox", "--envdir", str(nox_envdir), "-s", "dev", "--"]
    else:
        argv = [sys.executable, "-m", "tasks", "dev"]
    port = free_port()
    dev = _Dev([*argv, "jupyterlab", "--port", str(port), *options])
    try:
        dev.url()
        (container,) = _on_port(engine, port)
        if to == "process group":
            os.killpg(dev.process.pid, signum)
        else:
            dev.process.send_signal(signum)
        dev.ended(f"{signal.Signals(signum).name} to the {to}")
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
        (["--nb-prefix", "/a b"], "--nb-prefix '/a b' is not a URL path"),
        (["--nb-prefix", "/a?b=1"], "--nb-prefix '/a?b=1' is not a URL path"),
        (["--nb-prefix", "/a/../b"], "--nb-prefix '/a/../b' is not a URL path"),
        (["--nb-prefix", "//evil.example"], "is not a URL path"),
        (["--host", "localhost"], "--host 'localhost' is not an IP address"),
        (["--token", "--insecure-no-token"], "--token and --insecure-no-token contradict"),
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


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_host_beyond_loopback_needs_a_token_or_says_so(engine, fixture_tag: str, host: str):
    port = free_port()
    flags = ["--repo", jupyter_stack.REPO, "--tag", fixture_tag, "--port", str(port)]
    result = run_tasks(PROJECT, "dev", "jupyterlab", *flags, "--host", host, "--no-browser")
    assert result.returncode == 2, result.stderr
    assert f"--host {host} would serve Jupyter beyond this machine with no token" in result.stderr
    assert "add --token" in result.stderr and "--insecure-no-token" in result.stderr
    assert "Traceback" not in result.stderr
    assert _on_port(engine, port) == []  # nothing was created


def _status(url: str, token: str | None = None) -> int | None:
    return http_status(url, token, timeout=30)


def test_with_a_token_the_server_demands_it(engine, fixture_tag: str, nox_envdir: Path) -> None:
    """--host 0.0.0.0 --token: a red warning with every address, and a server that
    answers 403 without the token and 200 with it (asked on loopback only)."""
    port = free_port()
    argv = [sys.executable, "-m", "tasks", "dev", "jupyterlab-cpu", "--host", "0.0.0.0"]
    argv += ["--token", "--port", str(port), "--repo", jupyter_stack.REPO, "--tag", fixture_tag]
    argv += ["--no-browser"]
    dev = _Dev(argv)
    try:
        url = dev.url()
        match = re.fullmatch(r"(http://127\.0\.0\.1:(\d+)(/\S*))/lab\?token=([\w-]{32})", url)
        assert match, url
        root, shown_port, prefix, token = match.groups()
        assert int(shown_port) == port
        assert _status(f"{root}/api/status") == 403  # no token: refused
        assert "/login" in _final_url(f"{root}/lab")  # the lab sends one to its login page
        assert _status(f"{root}/api/status", token) == 200
        assert _status(url) == 200  # the printed URL itself lets the user in
        output = "".join(dev.lines)
        assert "exposed beyond this machine, with a token in the URL only, on:" in output
        ours = {
            a.address.split("%")[0]
            for entries in psutil.net_if_addrs().values()
            for a in entries
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        }
        pattern = rf"^  http://([\d.]+):{port}{re.escape(prefix)}/lab\?token={token}$"
        listed = set(re.findall(pattern, output, re.M))
        assert listed == ours
        (container,) = _on_port(engine, port)
        assert container.attrs["Config"]["Env"].count(f"JUPYTER_TOKEN={token}") == 1
        assert dev.interrupt() == 0, "".join(dev.lines[-20:])
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(container.id)
    finally:
        if dev.process.poll() is None:
            dev.process.kill()


def _final_url(url: str) -> str:
    """Where a GET of `url` ends after redirects (a server that wants a login sends one
    to its login page)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.url
