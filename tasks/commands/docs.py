"""`nox -s docs`: write the generated pages, docs/stages.md and docs/pins.md, and the
README's settings table (tasks/settings_doc.py)."""

from __future__ import annotations

import argparse

from tasks.console import note
from tasks.context import Context

HELP = "write docs/stages.md and docs/pins.md"


def arguments(parser: argparse.ArgumentParser) -> None:
    """No flags."""


def run(context: Context) -> int:
    from tasks import docs, settings_doc

    settings = context.settings
    written = docs.write(settings.root, settings.bake_path, settings.version_tag)
    readme = settings_doc.write(settings.root)  # its settings table, when it has one
    for path in [*written, *([readme] if readme else [])]:
        note(f"wrote {path.relative_to(settings.root).as_posix()}")
    return 0
