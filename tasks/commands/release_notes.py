"""`nox -s release-notes`: each served image's pull cost and package changes against the
previous release, as Markdown (release.yaml puts it in the GitHub release)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.commands.options import image_tag, repo
from tasks.console import FAILURE, ZoneError, note, out
from tasks.context import Context
from tasks.shared import progress, summary
from tasks.shared.files import write_whole

HELP = "pull cost and package changes of the served images since the last release"
USAGE = "nox -s release-notes -- [IMAGE ...] [--commit REV] [--previous TAG] [--output FILE]"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images", nargs="*", metavar="IMAGE", help="target or folder name (default: served ones)"
    )
    parser.add_argument(
        "--previous",
        metavar="TAG|COMMIT",
        help="the release to compare with (default: the newest release tag before HEAD)",
    )
    parser.add_argument("--commit", metavar="REV", help="the released commit (default: HEAD)")
    parser.add_argument(
        "--tag", type=image_tag, help="this release's images (default: the commit's SHA tag)"
    )
    parser.add_argument("--output", metavar="FILE", help="write the notes there (default: stdout)")
    parser.add_argument("--no-packages", action="store_true", help="pull cost only: no SBOMs read")
    repo(parser)


def run(context: Context) -> int:
    from tasks.reports import release_notes  # the registry, cosign, syft

    settings, args, graph, checkout = (
        context.settings,
        context.args,
        context.graph,
        context.checkout,
    )
    if checkout is None:
        raise ZoneError("release notes need the git repository (the previous release's tag)")
    if args.output and Path(args.output).is_dir():
        raise ZoneError(f"--output {args.output} is a folder", hint="name a file")
    if args.output and not Path(args.output).absolute().parent.is_dir():
        raise ZoneError(
            f"--output {args.output}: the folder {Path(args.output).parent} does not exist",
            hint="make it first, or name a file in a folder that exists",
        )
    stages = list(dict.fromkeys(n for image in args.images for n in graph.resolve(image)))
    stages = stages or release_notes.served(graph)
    released = release_notes.commit(checkout, args.commit)
    tag = args.tag or released
    previous = release_notes.previous_release(checkout, args.previous, released)
    note(
        f"release notes for {tag[:12]}: "
        + (f"against {previous.name} ({previous.sha[:12]})" if previous else "a first release")
    )
    # Each stage reads two images' packages (a syft scan unless attested): say which.
    with progress.Display(args.quiet) as display:
        items = display.items("release notes", len(stages))
        compared = []
        for stage in stages:
            with items.item(stage):
                found = release_notes.compare(settings, stage, tag, previous, not args.no_packages)
            compared.append(found)
    text = release_notes.markdown(
        [found for found, _ in compared], [source for _, source in compared], tag, previous
    )
    summary.append(text)
    if not args.output:
        out(text.rstrip("\n"))
        return 0
    try:
        write_whole(Path(args.output), text)
    except OSError as exc:
        raise ZoneError(f"cannot write {args.output}: {exc}", exit_code=FAILURE) from None
    note(f"release notes written to {args.output}")
    return 0
