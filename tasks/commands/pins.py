"""`nox -s pins`: check online that every pin (package, URL, checksum, image) resolves."""

from __future__ import annotations

import argparse

from tasks.context import Context

HELP = "check online that every pin resolves"
USAGE = "nox -s pins -- [options]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(context: Context) -> int:
    from tasks.pinning import pins_check  # requests

    return pins_check.run(
        context.settings, context.args.kind, context.args.json, context.args.quiet
    )
