"""`nox -s retag`: this commit's tags for the stages it reuses, registry-side."""

from __future__ import annotations

import argparse

from tasks.commands.options import plan_options
from tasks.context import Context

HELP = "give the stages this commit reuses its tags, registry-side (no layers moved)"
USAGE = "nox -s retag -- [IMAGE ...] [options]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="*", metavar="IMAGE", help="default: every stage the plan reuses"
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be tagged")
    plan_options(parser)


def run(context: Context) -> int:
    from tasks.registry import retag  # the registry's tools

    args = context.args
    return retag.run(
        context.settings,
        context.graph,
        context.plan,
        args.images,
        args.dry_run,
        context.checkout,
        quiet=args.quiet,
    )
