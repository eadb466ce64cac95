"""`python -m tasks COMMAND ...`: what the nox sessions run inside their venvs.

One table of commands. Each is a module of tasks/commands/ (its flags and its run, see
tasks/commands/__init__.py), imported only when it runs: `plan` never loads the docker SDK.
Here: the parser built from the table, the flags that overlay the settings, and the one
way every error, interrupt and closed pipe ends.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from tasks.console import FAILURE, ZoneError, err, fail
from tasks.context import Context
from tasks.lint import HELP as LINT_HELP  # its checks' names (that module imports nothing)
from tasks.settings import FLAGS, Settings, checked, load
from tasks.shared.retry import Transient


class Command(NamedTuple):
    module: str
    help: str  # the module's HELP, here too: the top-level --help imports no command


COMMANDS = {
    "plan": Command("tasks.commands.plan", "which stages to rebuild and which to reuse"),
    "bake": Command("tasks.commands.bake", "build images and the ancestors they need"),
    "test": Command(
        "tasks.commands.test", "run the image tests (tests/) against images in the local engine"
    ),
    "dev": Command("tasks.commands.dev", "run an image locally, on 127.0.0.1"),
    "push": Command(
        "tasks.commands.push",
        "push every tag of images: SHA tags first, moving tags (v2, latest) last",
    ),
    "verify": Command(
        "tasks.commands.verify",
        "check images' signatures and SBOMs in the registry: who signed, when, which commit",
    ),
    "retag": Command(
        "tasks.commands.retag",
        "give the stages this commit reuses its tags, registry-side (no layers moved)",
    ),
    "lint": Command("tasks.commands.lint", LINT_HELP),
    "docs": Command(
        "tasks.commands.docs",
        "write docs/stages.md, docs/pins.md and the README's generated tables",
    ),
    "pins": Command("tasks.commands.pins", "check online that every pin resolves"),
    "cost": Command(
        "tasks.commands.cost",
        "what images cost to pull compared with the release: layers, packages, budget",
    ),
    "release-notes": Command(
        "tasks.commands.release_notes",
        "pull cost and package changes of the served images since the last release",
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is a ZoneError like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ZoneError(f"{message}", hint=self.format_usage().rstrip())


def parser(running: str | None) -> tuple[_Parser, ModuleType | None]:
    """The parser of every command in the table, and the module of `running` (the only
    one imported, and the only one whose flags are declared); None when it is not one."""
    top = _Parser(prog="nox -s", description="Task runner for the image stack.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    module = None
    for name, command in COMMANDS.items():
        if name != running:
            commands.add_parser(name, help=command.help)
            continue
        module = importlib.import_module(command.module)
        usage = getattr(module, "USAGE", None)
        sub = commands.add_parser(name, help=command.help, usage=usage)
        module.arguments(sub)
        quiet(sub)
    return top, module


def quiet(parser: argparse.ArgumentParser) -> None:
    """Every command's --quiet: no progress display (tasks/shared/progress.py); notes, warnings,
    errors and tables print as without it."""
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress display (bars or progress lines)"
    )


def with_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with the command's flags that override them (--repo, --base-image...),
    each checked by its setting's rule."""
    flags = vars(args)
    given = {s: flags[s.dest] for s in FLAGS if flags.get(s.dest)}
    return dataclasses.replace(
        settings, **{s.field: checked(s, value, s.flag) for s, value in given.items()}
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Raw bake flags follow a second `--` (nox consumed the first one).
    raw: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, raw = argv[:at], argv[at + 1 :]
    try:
        top, module = parser(argv[0] if argv and argv[0] in COMMANDS else None)
        args = top.parse_args(argv)
        assert module is not None  # parse_args refuses a name that is not in the table
        if raw and not getattr(module, "TAKES_RAW", False):
            raise ZoneError(f"{args.command} takes no raw flags after a second `--`")
        settings = with_flags(load(Path.cwd()), args)
        return module.run(Context(settings, args, tuple(raw)))
    except ZoneError as error:
        return fail(error)
    except Transient as error:  # a registry hiccup outside any retry loop
        return fail(ZoneError(f"the registry failed: {error}", exit_code=FAILURE))
    except KeyboardInterrupt:
        return interrupted()
    except BrokenPipeError:
        return closed_output()


INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
CLOSED_OUTPUT = 141  # 128 + SIGPIPE: the reader went away before it had the whole output


def interrupted() -> int:
    """Ctrl-C: one word, no traceback, exit 130."""
    with contextlib.suppress(OSError):
        err.print("interrupted")
    return INTERRUPTED


def closed_output() -> int:
    """stdout (or stderr) closed under us (`plan --json | head -c0`): the reader wants no
    more, so say nothing and exit 141, as a process that SIGPIPE ended. Both streams go
    to /dev/null first, so the interpreter's last flush cannot complain either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    return CLOSED_OUTPUT
