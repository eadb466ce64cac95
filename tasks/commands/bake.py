"""`nox -s bake`: build images and the ancestors they need, in one docker buildx bake."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from rich.table import Table

from tasks import summary
from tasks.commands.options import plan_options, setting_flag
from tasks.console import FAILURE, ZoneError, err, note, one_line, shown
from tasks.context import Context
from tasks.plan import Plan

HELP = "build images and the ancestors they need"
USAGE = "nox -s bake -- [IMAGE ...] [options] [-- RAW_BAKE_FLAGS]"
TAKES_RAW = True  # flags after a second `--` go to docker buildx bake as they are

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")  # a secret's id, an environment variable


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="target or folder name")
    parser.add_argument(
        "--changed", action="store_true", help="build only what the plan marks for build"
    )
    parser.add_argument("--push", action="store_true", help="push every tag")
    setting_flag(parser, "base-image")
    parser.add_argument("--builder", help="buildx builder to use (e.g. a kubernetes one)")
    parser.add_argument("--no-cache", action="store_true", help="build without cache")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID,env=VAR",
        help="BuildKit secret for every built stage (repeatable)",
    )
    parser.add_argument(
        "--print", action="store_true", help="show the resolved definition, build nothing"
    )
    parser.add_argument(
        "--registry-cache",
        action="store_true",
        help="read and write each stage's layer cache in the registry (REPO/STAGE:buildcache)",
    )
    plan_options(parser)


def run(context: Context) -> int:
    from tasks import engine
    from tasks.bake import BakeOptions, invocation, select
    from tasks.reuse import Reuse
    from tasks.sas_image import preflight as sas_preflight

    args, settings = context.args, context.settings
    check_secrets(args.secret)
    graph = context.graph
    requested = [name for image in args.images for name in graph.resolve(image)]
    the_plan = context.plan
    targets = select(graph, the_plan, requested, args.changed)
    if not targets:
        note("nothing to build: no requested stage changed since the merge base")
        return 0
    # A remote builder that pushes needs no local engine; loading images does.
    loads_locally = not args.print and not (args.builder and args.push)
    engine.preflight(args.builder, need_engine=loads_locally)
    reused: dict[str, str] = {}
    if args.changed:
        # A registry that is down fails the bake (RegistryDown): building every parent
        # instead would hide the outage behind a long build. One that refuses us: built.
        lookups = engine.Lookups(settings.push_attempts, settings.push_backoff, False)
        reuse = Reuse(settings, graph, the_plan, lookups, context.checkout)
        targets, reused = reuse.parents(targets)
    if not args.print:
        sas_preflight(settings, graph, targets)
    options = BakeOptions(
        push=args.push,
        no_cache=args.no_cache,
        builder=args.builder,
        secrets=tuple(args.secret),
        print_only=args.print,
        registry_cache=args.registry_cache,
        raw=context.raw,
    )
    argv = invocation(graph, the_plan, settings, targets, reused, options)
    if not args.print:
        note(f"building {', '.join(targets)}" + (" and pushing" if args.push else ""))
    code = engine.run(argv)
    if code != 0:
        raise ZoneError(f"docker buildx bake failed (exit {code})", exit_code=FAILURE)
    if not args.print:
        _show_built(the_plan, targets, reused, args.push)
    return 0


def check_secrets(values: list[str]) -> None:
    """Each --secret is id=ID with env=VAR (set, not empty) or src=FILE (a file). A bad one
    is never echoed: a value in the wrong place may be the secret itself."""
    for number, value in enumerate(values, 1):
        fields = _secret_fields(value)
        if fields is None:
            raise ZoneError(
                f"--secret number {number} is not id=ID,env=VAR or id=ID,src=FILE "
                "(its value is not shown: it may hold the secret)",
                hint="e.g. --secret id=sas_storage,env=SAS_STORAGE_KEY",
            )
        if "env" in fields and not os.environ.get(fields["env"]):
            raise ZoneError(
                f"--secret id={fields['id']}: the environment variable {fields['env']} is not "
                "set or is empty (the build would get an empty secret)",
                hint=f"export {fields['env']}=... first, or leave this --secret out",
            )
        if "src" in fields and not Path(fields["src"]).expanduser().is_file():
            raise ZoneError(f"--secret id={fields['id']}: its src is no file (path not shown)")


def _secret_fields(value: str) -> dict[str, str] | None:
    """{id, env} or {id, src} from buildx's comma-separated form; None when it is not that."""
    pairs = [part.partition("=") for part in value.split(",")]
    fields = {key.strip(): text for key, equals, text in pairs if equals and text}
    if len(fields) != len(pairs):  # a part without a value, or a key twice
        return None
    if "source" in fields:
        fields["src"] = fields.pop("source")
    kind = fields.pop("type", "env" if "env" in fields else "file")
    sources = [key for key in ("env", "src") if key in fields]
    if set(fields) - {"id", "env", "src"} or "id" not in fields or len(sources) != 1:
        return None
    # Names only, so that a message may show them: a secret pasted there is not echoed.
    if not _NAME.fullmatch(fields["id"]) or not _NAME.fullmatch(fields.get("env", "x")):
        return None
    return fields if kind == ("env" if sources == ["env"] else "file") else None


def _show_built(the_plan: Plan, targets: list[str], reused: dict[str, str], pushed: bool) -> None:
    table = Table(title="Built")
    table.add_column("stage")
    table.add_column("images")
    # Several images a stage: a list, one line each in the terminal and in the summary. A
    # reused parent is the digest it was built on (REPO/STAGE@sha256:...): code in the summary.
    built = [(name, "built", the_plan.stage(name).tags) for name in targets]
    for name, _, images in built:
        table.add_row(shown(name), shown("\n".join(one_line(image) for image in images)))
    for name, ref in reused.items():
        table.add_row(shown(name), shown(f"reused {one_line(ref)}"))
    rows = [*built, *((name, "reused", summary.Code(ref)) for name, ref in reused.items())]
    err.print(table)
    title = "Built and pushed" if pushed else "Built"
    summary.table(title, ["stage", "", "images"], rows)
