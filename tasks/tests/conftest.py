"""Fixtures: a throwaway stack, a real engine, real registries, nox's venvs. The helpers
they and the tests share are in support.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tasks.tests import schedule
from tasks.tests.support import (
    UPSTREAM,
    AuthRegistry,
    make_stack,
    provisioned,
    remove_images,
    serve_registry,
)

# Fixture files are data (e.g. a small image suite the workflow replay copies), not tests.
collect_ignore = ["fixtures"]

# The tiers: a test's folder says what it needs, and gives it the marker of that name
# (`-m unit`, `-m "not e2e"`). README.md says how to run each.
HERE = Path(__file__).parent
TIERS = ("unit", "cli", "engine", "e2e")
# What reaches the engine or a registry: never in the unit tier (unit/conftest.py).
ENGINE_FIXTURES = {"engine", "upstream", "registry", "auth_registry", "fixture_tag"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(HERE).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.path.relative_to(HERE)} is outside the tiers: move it into one of "
                f"tasks/tests/{{{','.join(TIERS)}}}/"
            )
        item.add_marker(tier)
    schedule.arrange(items)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """The two workers' share of the tests (schedule.py)."""
    return schedule.scheduler(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI (CI=true) a skipped test is a failed one: every tier runs there, the engine's
    included, and nothing may quietly not run."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("CI") == "true":
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack")


# --- a real engine and registry -------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The Docker engine. Missing is a failure, never a skip: CI provisions it."""
    try:
        # Generous: the shared engine here has taken 50 s to list its images under load.
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}); run: bash .ci/provision-docker.sh")
    return client


@pytest.fixture(scope="session")
def upstream(engine: docker.DockerClient) -> str:
    """The stand-in upstream image: a busybox rootfs."""
    return provisioned(engine, UPSTREAM)


@pytest.fixture(scope="session")
def registry(
    engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on a free loopback port, for this run.

    Yields the repository prefix to use; every image tagged under it is removed at the end.
    """
    process, port = serve_registry(tmp_path_factory.mktemp("registry"))
    prefix = f"localhost:{port}/zt{uuid.uuid4().hex[:6]}"
    yield prefix
    process.terminate()
    process.wait(timeout=10)
    remove_images(engine, prefix)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    """A real registry with htpasswd (bcrypt) authentication, for this run."""
    import bcrypt

    folder = tmp_path_factory.mktemp("auth-registry")
    user, password = "zone-ci", f"pw-{uuid.uuid4().hex}"
    htpasswd = folder / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{user}:{hashed}\n")
    process, port = serve_registry(folder, htpasswd)
    yield AuthRegistry(port, user, password)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def fixture_tag(engine: docker.DockerClient) -> str:
    """The JupyterLab fixture stack (jupyterlab-cpu, sas), built once per machine."""
    from tasks.tests import jupyter_stack  # only the runs that need the fixture stack

    return jupyter_stack.stack(engine)


# --- driving the sessions as a user does ----------------------------------------------


@pytest.fixture(scope="session")
def nox_envdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One set of session venvs for every throwaway repository of this run."""
    return tmp_path_factory.mktemp("nox-envs")
