"""`nox -s lint`: every check over the repository, all of them run, every finding shown."""

from __future__ import annotations

import argparse

from tasks.context import Context
from tasks.lint import CHECKS

HELP = (
    "prek runs ruff, mypy, hadolint, shellcheck, actionlint, scan allowlist, CI build "
    "levels, bake --print, layer sizes, credentials, stale docs"
)
USAGE = "nox -s lint -- [PATH ...] [--only CHECK ...]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="lint only the Dockerfiles, scripts, workflows and Python under these files or "
        "folders (default: the whole repository)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CHECK",
        help="run only this check (repeatable): " + ", ".join(CHECKS),
    )


def run(context: Context) -> int:
    from tasks.lint import run as lint

    return lint.run(context.settings, context.args.paths, context.args.only)
