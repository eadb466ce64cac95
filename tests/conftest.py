"""The image test harness: the image under test, shared servers, volumes, a browser.

`nox -s test` passes the image with --image (or ZONE_TEST_IMAGE) and a run id with
ZONE_TEST_RUN; every container and volume made here carries that run's labels
(tracked_container.py), and cleanup removes only those.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import chromium
import docker
import docker.errors
import docker.types
import pytest
import requests
import websocket
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from tracked_container import LOG_LINES, RUN_LABELS, TrackedContainer, live, remove_leftovers

# The shared server runs under another prefix than the usual one: every test on it then
# also checks that NB_PREFIX is read at run time.
LAB_PREFIX = "/notebook/zone-tests/shared-lab"
# Where `nox -s test` writes the JUnit XML (tasks/docker/imagetest.py); screenshots go beside it.
RESULTS = "test-results"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--image", help="image under test (default: $ZONE_TEST_IMAGE)")
    parser.addoption(
        "--fresh-containers",
        action="store_true",
        help="one container per test, even for read-only tests (the benchmark's baseline)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: the quick check every served image must pass")
    config.addinivalue_line("markers", "browser: opens the lab or an app in headless Chromium")


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """The Docker engine; missing is a failure, never a skip. Removes this run's leftovers."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}): start dockerd, or set DOCKER_HOST")
    yield client
    remove_leftovers(client)


@pytest.fixture(scope="session")
def image(request: pytest.FixtureRequest, engine: docker.DockerClient) -> str:
    ref = request.config.getoption("--image") or os.environ.get("ZONE_TEST_IMAGE")
    if not ref:
        pytest.fail("no image under test: pass --image REF or set ZONE_TEST_IMAGE")
    try:
        engine.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is not in the local engine: nox -s bake -- IMAGE builds it")
    return ref


def shared_scope(fixture_name: str, config: pytest.Config) -> str:
    """Session (or module) for servers read-only tests share; per test with --fresh-containers.

    A test that changes a server's state gets its own: a function-scoped fixture or a
    TrackedContainer removed in a `finally`.
    """
    if config.getoption("--fresh-containers"):
        return "function"
    return "session" if fixture_name == "lab" else "module"


SAS_LABEL = "io.zone.sas"  # sas-kernel's: "present", or "absent" when built with SAS_IMAGE=


@pytest.fixture(scope="session")
def sas_installed(engine: docker.DockerClient, image: str) -> None:
    """For tests of SAS itself: they do not apply to an image built without SAS."""
    state = (engine.images.get(image).labels or {}).get(SAS_LABEL)
    if state is None:
        pytest.fail(f"{image} has no {SAS_LABEL} label: every image from sas-kernel has one")
    if state == "absent":
        pytest.skip(
            f"{image} carries {SAS_LABEL}=absent: it was built without the SAS installation "
            "(SAS_IMAGE empty), so SAS itself cannot run in it"
        )
    assert state == "present", f"{SAS_LABEL}={state!r}: expected present or absent"


@pytest.fixture(scope=shared_scope)
def lab(engine: docker.DockerClient, image: str) -> Iterator[TrackedContainer]:
    """One ready server shared by the read-only tests (a fresh one with --fresh-containers)."""
    container = TrackedContainer(engine, image, environment={"NB_PREFIX": LAB_PREFIX})
    try:
        container.wait_ready()
        yield container
    finally:
        container.remove()


@contextlib.contextmanager
def volume(engine: docker.DockerClient) -> Iterator[docker.models.volumes.Volume]:
    """An empty volume of this run, like the one the platform mounts as the home folder."""
    made = engine.volumes.create(labels=dict(RUN_LABELS))
    try:
        yield made
    finally:
        with contextlib.suppress(docker.errors.APIError):
            made.remove(force=True)


def mount(made: docker.models.volumes.Volume, target: str) -> docker.types.Mount:
    # no_copy: Docker must not fill the volume from the image; the image's start-up must.
    return docker.types.Mount(target, made.name, type="volume", no_copy=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session; missing is a failure, never a skip."""
    try:
        driver, profile = chromium.start()
    except chromium.BrowserMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield driver
    finally:
        chromium.stop(driver, profile)


def results_folder(config: pytest.Config) -> Path:
    """The JUnit report's folder, or the one `nox -s test` would write it to."""
    junit = config.getoption("xmlpath", None)
    if junit:
        return Path(junit).parent
    return Path(os.environ.get("ZONE_TEST_RESULTS") or RESULTS)


def _screenshot_name(config: pytest.Config, item: pytest.Item) -> str:
    junit = config.getoption("xmlpath", None)
    # One pytest per image writes into one folder: the report's name keeps them apart.
    image = Path(junit).stem if junit else str(config.getoption("--image") or "image")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{image}-{item.name}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    if report.failed:
        driver = getattr(item, "funcargs", {}).get("browser")
        if report.when == "call" and driver is not None:
            name = _screenshot_name(item.config, item)
            try:
                shot = chromium.screenshot(driver, results_folder(item.config), name)
                report.sections.append(("screenshot of the page", str(shot.resolve())))
            except (WebDriverException, OSError) as exc:  # the browser may be what failed
                report.sections.append(("no screenshot", repr(exc)))
        for container in live():
            report.sections.append(
                (f"last {LOG_LINES} log lines of {container.container.name}", container.logs())
            )
    return report


# --- talking to the server -------------------------------------------------------------


@pytest.fixture
def kernel_output() -> Callable[[TrackedContainer, str, str], str]:
    """run_code, for the tests: start a kernel, run code, get its stdout."""
    return run_code


def api_session(server: TrackedContainer) -> requests.Session:
    """A client of the server's REST API that may change things (POST, DELETE)."""
    session = requests.Session()
    # No token: the server still wants its _xsrf cookie echoed in a header, as the lab does.
    session.get(f"{server.url}/lab", timeout=30)
    session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", "")
    return session


def run_code(server: TrackedContainer, kernel: str, code: str, within: float = 90) -> str:
    """Start `kernel` through the REST API, run `code` over its websocket, return stdout."""
    session = api_session(server)
    response = session.post(f"{server.url}/api/kernels", json={"name": kernel}, timeout=30)
    assert response.status_code == 201, f"starting {kernel}: {response.status_code} {response.text}"
    kernel_id = response.json()["id"]
    socket_url = f"ws://127.0.0.1:{server.port}{server.prefix}/api/kernels/{kernel_id}/channels"
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    try:
        return _execute(socket_url, cookie, code, within)
    finally:
        session.delete(f"{server.url}/api/kernels/{kernel_id}", timeout=30)


def _execute(socket_url: str, cookie: str, code: str, within: float) -> str:
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
    }
    deadline = time.monotonic() + within
    connection = websocket.create_connection(socket_url, timeout=within, cookie=cookie)
    try:
        connection.send(json.dumps(request))
        stdout = []
        while time.monotonic() < deadline:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(connection.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream" and message["content"]["name"] == "stdout":
                stdout.append(message["content"]["text"])
            elif kind == "error":
                pytest.fail(f"the kernel raised: {message['content'].get('evalue')}")
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(stdout)
    except websocket.WebSocketTimeoutException:
        pass
    except websocket.WebSocketException as exc:
        pytest.fail(f"the kernel's websocket failed: {exc!r}")
    finally:
        connection.close()
    pytest.fail(f"no result from the kernel within {within:.0f}s")
