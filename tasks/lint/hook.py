"""A hook's entry in tasks/lint/hooks.yaml: `python -m tasks.lint.hook CHECK [FILE ...]`.

Runs one of our own checks on the files prek gives it, prints each finding as
`file:line: message`, and exits 1 if there is any (prek then marks the hook Failed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.text import Text

from tasks.console import FAILURE, ZoneError, err, fail
from tasks.lint import run
from tasks.settings import load


def main(argv: list[str]) -> int:
    if not argv:
        return fail(ZoneError("usage: python -m tasks.lint.hook CHECK [FILE ...]"))
    name, paths = argv[0], argv[1:]
    try:
        settings = load(Path.cwd())
        if name == "shellcheck":
            return run.shellcheck(settings, paths)
        if name == "hadolint":
            return run.hadolint(settings, paths)
        findings = run.check(name, settings, paths)
    except ZoneError as error:
        return fail(error)
    for finding in findings:
        err.print(Text(str(finding)))
    return FAILURE if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
