"""`nox -s docs`: write the generated pages, docs/stages.md and docs/pins.md."""

from __future__ import annotations

import argparse

from tasks.console import note
from tasks.context import Context

HELP = "write docs/stages.md and docs/pins.md"


def arguments(parser: argparse.ArgumentParser) -> None:
    """No flags."""


def run(context: Context) -> int:
    from tasks import docs

    settings = context.settings
    for written in docs.write(settings.root, settings.bake_path, settings.version_tag):
        note(f"wrote {written.relative_to(settings.root).as_posix()}")
    return 0
