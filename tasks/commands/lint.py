"""`nox -s lint`: every check over the repository, all of them run, every finding shown."""

from __future__ import annotations

import argparse
import textwrap

from tasks.context import Context
from tasks.lint import CHECKS, DECLARED
from tasks.lint import HELP as HELP

USAGE = "nox -s lint -- [PATH ...] [--only CHECK ...]"


def arguments(parser: argparse.ArgumentParser) -> None:
    # Each check and what it finds, from its declaration (tasks/lint/__init__.py).
    width = max(map(len, CHECKS))
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "checks:\n" + "\n".join(
        textwrap.fill(
            check.help,
            width=88,
            initial_indent=f"  {check.name:<{width}}  ",
            subsequent_indent=" " * (width + 4),
        )
        for check in DECLARED
    )
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
