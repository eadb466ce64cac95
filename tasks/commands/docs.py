"""`nox -s docs`: write the generated pages, docs/stages.md and docs/pins.md, and the
README's settings table (tasks/readme.py)."""

from __future__ import annotations

import argparse

from tasks.console import note
from tasks.context import Context

HELP = "write docs/stages.md, docs/pins.md and the README's generated tables"


def arguments(parser: argparse.ArgumentParser) -> None:
    """No flags."""


def run(context: Context) -> int:
    from tasks import docs, readme
    from tasks.lint import hooks_file

    settings = context.settings
    written = docs.write(settings.root, settings.bake_path, settings.version_tag)
    written += [path for path in [readme.write(settings.root)] if path]  # when it has tables
    if hooks_file.in_checkout(settings.root):  # the runner's own checkout
        written.append(hooks_file.write())
    for path in written:
        note(f"wrote {path.relative_to(settings.root).as_posix()}")
    return 0
