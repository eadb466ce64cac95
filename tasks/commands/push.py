"""`nox -s push`: every tag of images, immutable first, moving last; checked in the registry."""

from __future__ import annotations

import argparse

from tasks.commands.options import image_tag, repo
from tasks.context import Context

HELP = "push every tag of images: SHA tags first, moving tags (v2, latest) last"
USAGE = "nox -s push -- IMAGE [IMAGE ...] [options]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="target or folder name")
    repo(parser)
    parser.add_argument(
        "--tag",
        type=image_tag,
        help="push the image that has this tag (default: this commit's SHA tag)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be pushed")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="also push a build of uncommitted files (under its -dirty tag; refused in CI)",
    )


def run(context: Context) -> int:
    from tasks.registry import push  # the docker SDK, requests

    args = context.args
    return push.run(
        context.settings,
        context.graph,
        args.images,
        tag=args.tag,
        dry_run=args.dry_run,
        allow_dirty=args.allow_dirty,
        revision=context.tagging,
        quiet=args.quiet,
    )
