"""Developer tasks for a stacked image repository: `nox -l` lists them.

Each session installs the runner (zone-runner, with its lint and image-test extras) as
uv.lock pins it, and runs one of its commands. This file is the one docs/adopting.md gives
every repository that uses the runner; below its last session, this repository's own.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox
import nox.virtualenv

nox.needs_version = ">=2025.2.9"
# uv makes the venvs and installs them from uv.lock. Without it nox would end every
# session in a traceback ("No backends present"): one line that says what to do instead.
if not nox.virtualenv.HAS_UV:
    sys.exit("nox here needs uv, which is not installed: pip install uv")
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["plan"]

LOCKED_FROM = ("pyproject.toml", "uv.lock")


def _install(session: nox.Session, *groups: str) -> None:
    """The runner and its extras (and the groups), exactly as uv.lock pins them.

    `uv sync --locked` refuses a lock that no longer matches pyproject.toml (it says to
    run `uv lock`). Bytecode is compiled at install, so the first `plan` in a fresh venv
    starts fast; as uv compiles the whole venv again on every sync, a venv already synced
    from these very files is left as it is.
    """
    missing = [name for name in LOCKED_FROM if not Path(name).is_file()]
    if missing:
        session.error(
            f"{' and '.join(missing)} must be beside the noxfile: the sessions install what "
            "uv.lock pins (run `uv lock` here)"
        )
    venv = Path(session.virtualenv.location)
    stamp = venv / ".zone-synced"
    synced = hashlib.sha256(" ".join(groups).encode())
    for name in LOCKED_FROM:
        synced.update(Path(name).read_bytes())
    if stamp.is_file() and stamp.read_text() == synced.hexdigest():
        return
    chosen = [f"--group={group}" for group in groups]
    # Bytecode for every module at install makes a person's first command fast; a CI job's
    # fresh venv runs a command or two, so it compiles only what they import.
    compile_all = "0" if os.environ.get("CI") else "1"
    env = {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_COMPILE_BYTECODE": compile_all}
    # silent: uv's report shown only if it fails (stdout stays for `--json`).
    sync = ["uv", "sync", "--locked", "--all-extras", "--no-default-groups", *chosen]
    if session.run_install(*sync, env=env, external=True, silent=True) is not None:
        stamp.write_text(synced.hexdigest())  # None: `nox -R` skipped the install


def _runner(
    session: nox.Session,
    command: str,
    interrupt_timeout: float | None = None,
    terminate_timeout: float | None = None,
) -> None:
    _install(session)
    # stderr kept apart: `--json` on stdout must stay parseable (nox merges them by default).
    session.run(
        "zone-runner",
        command,
        *session.posargs,
        stderr=None,
        interrupt_timeout=interrupt_timeout,
        terminate_timeout=terminate_timeout,
    )


@nox.session
def plan(session: nox.Session) -> None:
    """Which stages changed since the merge base: build or reuse, why, and tags."""
    _runner(session, "plan")


@nox.session
def bake(session: nox.Session) -> None:
    """Build images and the ancestor stages they need, in one docker buildx bake."""
    _runner(session, "bake")


@nox.session
def push(session: nox.Session) -> None:
    """Push every tag of images: SHA tags first, moving tags last; check the registry."""
    _runner(session, "push")


@nox.session
def verify(session: nox.Session) -> None:
    """Check the images' signatures and SBOMs in the registry (cosign)."""
    _runner(session, "verify")


@nox.session
def retag(session: nox.Session) -> None:
    """Tag the stages this commit reuses with its tags, registry-side: no layers move."""
    _runner(session, "retag")


@nox.session
def cost(session: nox.Session) -> None:
    """What images cost to pull compared with the release: layers, packages (syft), budget."""
    _runner(session, "cost")


@nox.session(name="release-notes")
def release_notes(session: nox.Session) -> None:
    """Release notes: the served images' pull cost and package changes since the last release."""
    _runner(session, "release-notes")


@nox.session
def test(session: nox.Session) -> None:
    """Run the image tests (tests/) in real containers against locally built images."""
    # Ctrl-C reaches the runner, which needs a moment for pytest to remove its containers.
    _runner(session, "test", interrupt_timeout=90, terminate_timeout=30)


@nox.session
def dev(session: nox.Session) -> None:
    """Run an image locally on 127.0.0.1, stream its logs, remove it on Ctrl-C."""
    # Ctrl-C reaches the runner too (same process group); give it time to remove its container.
    _runner(session, "dev", interrupt_timeout=60, terminate_timeout=30)


@nox.session
def lint(session: nox.Session) -> None:
    """prek runs ruff, mypy, hadolint, shellcheck, actionlint and our checks; PATH, --only."""
    _runner(session, "lint")


@nox.session
def docs(session: nox.Session) -> None:
    """Write docs/stages.md (the stage graph) and docs/pins.md (every pin, its evidence)."""
    _runner(session, "docs")


@nox.session
def pins(session: nox.Session) -> None:
    """Check online that every pin (versions, downloads, images) resolves, before a build."""
    _runner(session, "pins")


# --- this repository only: the runner's own tests ------------------------------------


@nox.session
def selftest(session: nox.Session) -> None:
    """The runner's own tests, against a real Docker engine, buildx and registry."""
    _install(session, "selftest")
    # The whole suite on two workers: the engine's tiers wait on builds and registries while
    # the others use the CPU. A file with a module fixture runs on one worker (made once),
    # any other test wherever a worker is free, the longest first (tasks/tests/schedule.py).
    # With arguments (a tier, -k, -x), pytest runs as they say, in this process.
    # The slowest tests at the end of every run: CI's log says what dominates.
    if session.posargs:
        session.run("pytest", "--durations=25", *session.posargs)
        return
    session.run(
        "pytest",
        "--durations=25",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "-m",
        "not quiet and not serial",
    )
    # Then the browser-driven image tests, a file on each worker: their waits are sized for a
    # machine that builds nothing meanwhile. Last, alone, a test that empties the engine's
    # build cache (it would break a build beside it).
    session.run("pytest", "--durations=5", "-n", "2", "--dist", "loadgroup", "-m", "quiet")
    session.run("pytest", "--durations=5", "-m", "serial")
