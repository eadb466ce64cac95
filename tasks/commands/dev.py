"""`nox -s dev`: one image running locally, on 127.0.0.1, until Ctrl-C removes it."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.commands.options import image_options, tag_to_use
from tasks.context import Context

HELP = "run an image locally, on 127.0.0.1"
USAGE = "nox -s dev -- IMAGE [options]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="target or folder name")
    parser.add_argument("--port", type=int, help="host port (default: 8888, or the next free)")
    parser.add_argument("--host", default="127.0.0.1", help="host address to bind")
    parser.add_argument(
        "--token",
        action="store_true",
        help="ask for a generated token (printed in the URL); needed for a non-loopback --host",
    )
    parser.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="serve a non-loopback --host with no token: anyone who reaches it runs code",
    )
    parser.add_argument(
        "--nb-prefix", help="the server's base URL (default: /notebook/username/notebookname)"
    )
    parser.add_argument("--mount", type=Path, help="a host folder to mount at ~/work")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    image_options(parser)


def run(context: Context) -> int:
    from tasks.docker import dev  # the docker SDK, psutil

    return dev.run(context.settings, context.graph, context.args, tag_to_use(context))
