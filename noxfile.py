"""Developer tasks for the image stack. `nox -l` lists them; README.md explains each."""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["plan"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


def _runner(session: nox.Session, command: str) -> None:
    _install(session, "runner")
    # stderr kept apart: `--json` on stdout must stay parseable (nox merges them by default).
    session.run("python", "-m", "tasks", command, *session.posargs, stderr=None)


@nox.session
def plan(session: nox.Session) -> None:
    """Which stages changed since the merge base: build or reuse, why, and tags."""
    _runner(session, "plan")


@nox.session
def bake(session: nox.Session) -> None:
    """Build images and the ancestor stages they need, in one docker buildx bake."""
    _runner(session, "bake")


@nox.session
def selftest(session: nox.Session) -> None:
    """The runner's own tests, against a real Docker engine, buildx and registry."""
    _install(session, "selftest")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format check and lint on all Python."""
    _install(session, "lint")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
