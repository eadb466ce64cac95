"""People read stderr (through rich); programs read stdout. One error type, one exit path."""

from __future__ import annotations

import re
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


# Control characters but newline and tab: a file name holding \r or an ANSI escape must
# not rewrite what people read.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return match.group(0).encode("unicode_escape").decode("ascii")


def shown(value: object, style: str = "") -> Text:
    """Text from users (git, the bake file, the environment, flags) for the terminal: never
    markup, and control characters as their escapes."""
    return Text(_CONTROL.sub(_escaped, str(value)), style=style)


def one_line(value: object) -> str:
    """A value for one line (a table cell's line): line endings shown as escapes too."""
    return _CONTROL_OR_NEWLINE.sub(_escaped, str(value))


def note(message: str) -> None:
    err.print(Text("note:", style="cyan"), shown(message))


def warn(message: str) -> None:
    err.print(Text("warning:", style="yellow"), shown(message))


def fail(error: ZoneError) -> int:
    err.print(Text("error:", style="bold red"), shown(error.message))
    if error.hint:
        err.print(shown(error.hint))
    return error.exit_code


def out(text: str) -> None:
    """Machine-readable output: stdout, alone."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
