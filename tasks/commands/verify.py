"""`nox -s verify`: who signed images in the registry, when, from which commit."""

from __future__ import annotations

import argparse

from tasks.commands.options import image_tag, repo
from tasks.context import Context

HELP = "check images' signatures and SBOMs in the registry: who signed, when, which commit"
USAGE = "nox -s verify -- IMAGE [IMAGE ...] [options]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="target or folder name")
    repo(parser)
    parser.add_argument(
        "--tag", type=image_tag, help="the image under this tag (default: this commit's SHA tag)"
    )


def run(context: Context) -> int:
    from tasks.registry import verify  # cosign, the registry

    args = context.args
    return verify.run(context.settings, context.graph, args.images, args.tag, context.tagging)
