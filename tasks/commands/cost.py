"""`nox -s cost`: what this commit's images cost the nodes that pull them, compared with
the release in the registry: new pull bytes, sizes, shared and new layers, the package
diff, and the pull budget."""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import json
import re
from collections.abc import Callable
from typing import TypeVar

from rich.table import Table

from tasks.commands.options import image_options, tag_to_use
from tasks.console import FAILURE, ZoneError, err, note, one_line, out, shown, warn
from tasks.context import Context
from tasks.registry import sbom
from tasks.reports import charts, cost
from tasks.reports.cost import Cost, size
from tasks.settings import Settings
from tasks.shared import progress, summary
from tasks.stack.references import TAG

HELP = "what images cost to pull compared with the release: layers, packages, budget"
USAGE = "nox -s cost -- IMAGE [IMAGE ...] [--against TAG|DIGEST] [options]"
TOP = 5  # the largest new layers shown for each image
BAR_CELLS = 12  # a whole bar: all the bytes a node pulls for the image
SHOWN_PACKAGES = 20  # package changes shown in the terminal before "... more"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
A = TypeVar("A")
B = TypeVar("B")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="target or folder name")
    parser.add_argument(
        "--against",
        metavar="TAG|DIGEST",
        help="the release to compare with (default: the version tag, e.g. v2)",
    )
    image_options(parser)  # --tag, --repo, --pull: the image as test finds it
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--no-packages", action="store_true", help="layers and sizes only: no SBOMs (faster)"
    )
    parser.add_argument(
        "--allow-over-budget",
        action="store_true",
        help="report an image over its pull budget, but do not fail",
    )


def run(context: Context) -> int:
    # The docker SDK only now: `--help` and the command table never load it.
    from tasks.docker import bake, imagetest
    from tasks.planning import tags
    from tasks.registry import layers

    settings, args, graph = context.settings, context.args, context.graph
    against = args.against or settings.version_tag
    if not (TAG.fullmatch(against) or _DIGEST.fullmatch(against)):
        raise ZoneError(
            f"--against {against!r} is neither a tag nor a digest", hint="e.g. v2 or sha256:..."
        )
    stages = list(dict.fromkeys(name for image in args.images for name in graph.resolve(image)))
    branch = context.tagging.branch  # whose build cache bake --registry-cache wrote
    tag = tag_to_use(context)
    names = {stage: tags.image_name(settings.registry, stage) for stage in stages}
    refs = {stage: str(name.with_tag(tag)) for stage, name in names.items()}
    for stage, ref in refs.items():  # every image is there before any work starts
        imagetest.require_local(ref, stage, args.pull, "cost", args.quiet)
    results = []
    for stage, ref in refs.items():
        name = names[stage]
        at = name.with_digest(against) if _DIGEST.fullmatch(against) else name.with_tag(against)
        release_ref = str(at)
        image = layers.local(ref)
        release, pushed = _together(
            lambda: layers.remote(release_ref, settings),  # noqa: B023 - called at once
            lambda: layers.remote(ref, settings),  # noqa: B023
        )
        if release is None and args.against:  # only the default tag's absence is a first
            raise ZoneError(  # release: a release asked for by name is there to compare with
                f"--against {against}: {release_ref} is not in the registry",
                hint="name a tag or digest the registry has, or leave --against off to compare "
                f"with {settings.version_tag} (none yet: a first release)",
            )
        if release is None:
            note(f"{release_ref} is not in the registry: a first release, figures are absolute")
        if pushed is not None and [x.diff_id for x in pushed.layers] != [
            x.diff_id for x in image.layers
        ]:
            pushed = None  # the registry's image under this tag is another build
        cached = (
            {} if pushed else layers.build_cache(bake.cache_ref(settings, stage, branch), settings)
        )
        parent_layers = _parent_layers(graph.stages[stage].parent, settings, tag)
        found = cost.Cost(
            stage,
            ref,
            release_ref,
            release,
            cost.compare(image, pushed, cached, release, parent_layers),
            budget=settings.budget(stage),
        )
        if not args.no_packages:
            source = f"registry:{name}@{release.digest}" if release else ""
            # The release cached by what its tag names: with the containerd image store,
            # the image ID under which push (or an earlier cost) cached that very image.
            key = (release.tag_digest or release.digest) if release else ""
            # Both scans at once, in one display: the image's and the release's.
            with progress.Display(args.quiet) as display:
                scans = display.items(f"{stage}: packages", 2 if key else 1)
                (now, _), (before, from_cache) = _together(
                    functools.partial(_scanned, scans, "this image", f"docker:{ref}", image.digest),
                    functools.partial(_scanned, scans, "the release", source, key)
                    if key
                    else _no_packages,
                )
            if key:
                where = "the SBOM cache" if from_cache else "a syft scan"
                note(f"{stage}: the release's packages from {where}")
            found = dataclasses.replace(found, packages=sbom.diff(before, now))
        results.append(found)
    for found in results:
        _show(found)
    charts_after = {
        f"{found.stage}: largest new layers": cost.chart(found, TOP) for found in results
    }
    for spec in cost.report_tables(results, TOP):
        summary.table(*spec)
        if charts_after.get(spec[0]):  # each image's largest new layers, drawn too
            summary.append(charts_after[spec[0]])
    if args.json:
        out(json.dumps([found.to_json() for found in results], indent=2))
    over = [found for found in results if found.over_budget]
    if over and args.allow_over_budget:
        for found in over:
            warn(f"{_over_message(found)}; let through (--allow-over-budget)")
    elif over:
        raise ZoneError(
            "; ".join(_over_message(found) for found in over),
            hint="to let it through on purpose: raise [tool.zone] pull-budget for the image in "
            "pyproject.toml (a reviewed change), or pass --allow-over-budget; in CI, label the "
            "pull request pull-budget-accepted",
            exit_code=FAILURE,
        )
    return 0


def _scanned(
    scans: progress.Items, what: str, source: str, key: str
) -> tuple[frozenset[sbom.Package], bool]:
    """sbom.packages, shown as one item of `scans` while syft reads it (or the cache)."""
    with scans.item(what):
        return sbom.packages(source, key)


def _no_packages() -> tuple[frozenset[sbom.Package], bool]:
    return frozenset(), False


def _together(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Two waits at once (registry look-ups, syft scans): each is mostly waiting."""
    from tasks.docker import engine

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            one, two = pool.submit(first), pool.submit(second)
            return one.result(), two.result()
        except KeyboardInterrupt:
            engine.stop_registry_work()
            raise


def _parent_layers(parent: str | None, settings: Settings, tag: str) -> tuple[str, ...] | None:
    """The diff_ids of the parent stage's image at the same tag, when it is in the engine."""
    import docker.errors

    from tasks.docker import engine
    from tasks.planning import tags

    if parent is None:
        return None
    ref = tags.image_refs(settings.registry, parent, [tag])[0]
    try:
        attrs = engine.client().images.get(ref).attrs
    except docker.errors.ImageNotFound:
        return None
    return tuple((attrs.get("RootFS") or {}).get("Layers") or [])


def _over_message(found: Cost) -> str:
    grew = ", ".join(
        f"{layer.made_by} ({size(layer.pull_bytes)})" for layer in found.largest_new(3)
    )
    return (
        f"{found.stage} adds {size(found.new_bytes)} to pull"
        f"{' (estimated)' if found.estimated else ''}, over its pull budget of "
        f"{size(found.budget)}; the layers that grew: {grew}"
    )


def _show(found: Cost) -> None:
    release = found.release
    estimated = " (estimated: uncompressed size of layers no registry holds yet)"
    lines = [
        f"{found.stage}: {found.ref} against {found.against}",
        f"  new to pull for a node holding the release: {size(found.new_bytes)}"
        + (estimated if found.estimated else ""),
        f"  this image: {size(found.compressed)} compressed, "
        f"{size(found.uncompressed)} uncompressed, {len(found.layers)} layers "
        f"({len(found.layers) - len(found.new_layers)} shared, {len(found.new_layers)} new)",
        "  release: "
        + (
            "none yet (first release)"
            if release is None
            else f"{size(release.compressed)} compressed, {len(release.layers)} layers"
        ),
    ]
    if found.budget is not None:
        state = "OVER" if found.over_budget else "within"
        lines.append(f"  pull budget: {size(found.budget)} ({state})")
    if any(layer.origin for layer in found.layers):
        brought = [layer for layer in found.layers if layer.origin == "parent"]
        added = [layer for layer in found.layers if layer.origin == "own"]
        lines.append(
            f"  its parent stage brings {len(brought)} layers, it adds {len(added)} "
            f"({size(sum(layer.pull_bytes for layer in added))})"
        )
    for line in lines:
        err.print(shown(line))
    if found.new_layers:
        err.print(_layer_table(found))
    if found.packages is not None:
        rows = cost.package_rows(found.packages)
        for kind, name, change in rows[:SHOWN_PACKAGES]:
            err.print(shown(f"  {change:<8} {kind:<10} {name}"))
        if len(rows) > SHOWN_PACKAGES:
            err.print(shown(f"  ... {len(rows) - SHOWN_PACKAGES} more package changes (--json)"))
        if not rows:
            err.print("  packages: no change")


def _layer_table(found: Cost) -> Table:
    """Its largest new layers, each with a bar of its share of the bytes to pull, and the
    rest as one "others" row: one layer that is most of it shows as one long bar."""
    table = Table(title=shown(f"{found.stage}: largest new layers"), title_justify="left")
    table.add_column("size")
    table.add_column("share", no_wrap=True)
    table.add_column("from")
    table.add_column("instruction")
    # Block characters where the output can encode them (a C-locale pipe may not).
    plain = not (err.encoding or "").lower().startswith("utf")
    largest = found.largest_new(TOP)
    for layer in largest:
        table.add_row(
            cost.layer_size(layer),
            shown(charts.share(layer.pull_bytes, found.new_bytes, BAR_CELLS, plain)),
            layer.origin or "",
            shown(one_line(layer.made_by[:120])),
        )
    rest = len(found.new_layers) - len(largest)
    if rest:
        others = found.new_bytes - sum(layer.pull_bytes for layer in largest)
        table.add_row(
            size(others),
            shown(charts.share(others, found.new_bytes, BAR_CELLS, plain)),
            "",
            shown(charts.others(rest)),
        )
    return table
