"""tasks/lint/hooks.yaml, the prek config of the lint, written from the checks' declarations
(tasks/lint/__init__.py) by `nox -s docs` in the runner's own checkout; the lint's docs
check and a unit test fail when it is stale. It stays a file (shipped with the runner) so
prek reads it as it is, and a reader sees every hook in one place."""

from __future__ import annotations

from pathlib import Path

from tasks.lint import DECLARED, Check

PATH = Path(__file__).with_name("hooks.yaml")
_HEAD = """\
# The lint's hooks, shipped with the runner (a prek/pre-commit config: a repository with a
# .pre-commit-config.yaml of its own is linted with that instead). prek (pre-commit's
# drop-in) runs them: `nox -s lint` with the tools uv.lock pins, in the lint venv (its
# bin/ first on PATH). Local hooks only, so nothing is fetched: each runs a program of
# that venv, or one of our own checks (tasks/lint/hook.py). `python -m tasks lint`
# chooses the files and hooks (PATHs, --only). None writes a file, so all run at once
# (one priority), as many as there are CPUs.
# Generated from the checks declared in tasks/lint/__init__.py by `nox -s docs`; do not
# edit by hand.
exclude: ^tasks/tests/fixtures/lint/|^tasks/tests/fixtures/secrets/Dockerfile\\.leaky$
repos:
  - repo: local
    hooks:
"""
_REPOSITORY = (("pass_filenames", False), ("always_run", True))


def render() -> str:
    return _HEAD + "".join(_hook(check) for check in DECLARED)


def _hook(check: Check) -> str:
    lines = [f"- id: {check.id}", f"  name: {check.name}"]
    lines += [f"  # {line}" for line in check.why.splitlines()]
    lines += [f"  entry: {check.command}", "  language: system", "  priority: 0"]
    keys = check.hook + (_REPOSITORY if check.repository else ())
    lines += [f"  {key}: {_value(value)}" for key, value in keys]
    return "".join(f"      {line}\n" for line in lines)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def in_checkout(root: Path) -> bool:
    """Whether `root` is the runner's own checkout (the hooks file is its, nobody else's;
    a runner installed in a venv under an adopting repository is not)."""
    return PATH.resolve() == (root / "tasks/lint/hooks.yaml").resolve()


def stale() -> str | None:
    """Why the hooks file does not match the declarations; None when it does."""
    if PATH.is_file() and PATH.read_text(encoding="utf-8") == render():
        return None
    return "stale: does not match the checks of tasks/lint/__init__.py; run `nox -s docs`"


def write() -> Path:
    PATH.write_text(render(), encoding="utf-8")
    return PATH
