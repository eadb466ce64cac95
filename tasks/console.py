"""People read stderr (through rich); programs read stdout. One error type, one exit path."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text

# Everything meant for people goes to stderr, so `--json` on stdout stays parseable.
err = Console(stderr=True, highlight=False, soft_wrap=True)

USAGE = 2  # bad input: the user can fix it by changing the command or the files
FAILURE = 1  # the tool or the engine failed while doing what was asked


class ZoneError(Exception):
    """A problem the user can act on: printed as one message, never as a traceback."""

    def __init__(self, message: str, hint: str = "", exit_code: int = USAGE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


def note(message: str) -> None:
    err.print("[cyan]note:[/]", Text(message))


def warn(message: str) -> None:
    err.print("[yellow]warning:[/]", Text(message))


def fail(error: ZoneError) -> int:
    err.print("[bold red]error:[/]", Text(error.message))
    if error.hint:
        err.print(Text(error.hint))
    return error.exit_code


def out(text: str) -> None:
    """Machine-readable output: stdout, alone."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
