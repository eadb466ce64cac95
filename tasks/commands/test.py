"""`nox -s test`: the image tests (tests/) against images in the local engine."""

from __future__ import annotations

import argparse

from tasks.commands.options import image_options, tag_to_use
from tasks.context import Context

HELP = "run the image tests (tests/) against images in the local engine"
USAGE = "nox -s test -- [IMAGE ...] [options] [-- PYTEST_ARGS]"
TAKES_RAW = True  # flags after a second `--` go to each image's pytest


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="default: every final image")
    parser.add_argument(
        "--changed", action="store_true", help="only the images the plan marks for test"
    )
    parser.add_argument("--base", metavar="REF", help="with --changed: compare with this ref")
    image_options(parser)


def run(context: Context) -> int:
    from tasks.docker import imagetest  # the docker SDK

    args = context.args
    return imagetest.run(
        context.settings,
        context.graph,
        args.images,
        tag=tag_to_use(context),
        changed=context.plan if args.changed else None,
        pull=args.pull,
        quiet=args.quiet,
        pytest_args=context.raw,
    )
