"""`python -m tasks COMMAND ...`: what the nox sessions run inside their venvs."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import sys
from pathlib import Path

from rich.table import Table
from rich.text import Text

# Each command's modules are imported when it runs: `plan` never loads the docker SDK.
from tasks import bakefile, changes, plan, summary
from tasks.console import FAILURE, ZoneError, err, fail, note, one_line, out, shown, warn
from tasks.lint import CHECKS
from tasks.references import REPO as _REPO
from tasks.references import TAG as _TAG
from tasks.retry import Transient
from tasks.settings import Settings, check_base_image, load

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")  # a secret's id, an environment variable


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is a ZoneError like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ZoneError(f"{message}", hint=self.format_usage().rstrip())


def _parser() -> _Parser:
    parser = _Parser(prog="nox -s", description="Task runner for the image stack.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    plan_cmd = commands.add_parser("plan", help="which stages to rebuild and which to reuse")
    plan_cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")
    plan_cmd.add_argument(
        "--github-output", action="store_true", help="also write build/test/matrix there"
    )
    _common(plan_cmd)

    bake_cmd = commands.add_parser(
        "bake",
        help="build images and the ancestors they need",
        usage="nox -s bake -- [IMAGE ...] [options] [-- RAW_BAKE_FLAGS]",
    )
    bake_cmd.add_argument("images", nargs="*", metavar="IMAGE", help="target or folder name")
    bake_cmd.add_argument(
        "--changed", action="store_true", help="build only what the plan marks for build"
    )
    bake_cmd.add_argument("--push", action="store_true", help="push every tag")
    bake_cmd.add_argument("--base-image", help="another upstream image for the root stage")
    bake_cmd.add_argument("--builder", help="buildx builder to use (e.g. a kubernetes one)")
    bake_cmd.add_argument("--no-cache", action="store_true", help="build without cache")
    bake_cmd.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID,env=VAR",
        help="BuildKit secret for every built stage (repeatable)",
    )
    bake_cmd.add_argument(
        "--print", action="store_true", help="show the resolved definition, build nothing"
    )
    bake_cmd.add_argument(
        "--registry-cache",
        action="store_true",
        help="read and write each stage's layer cache in the registry (REPO/STAGE:buildcache)",
    )
    _common(bake_cmd)

    test_cmd = commands.add_parser(
        "test",
        help="run the image tests (tests/) against images in the local engine",
        usage="nox -s test -- [IMAGE ...] [options] [-- PYTEST_ARGS]",
    )
    test_cmd.add_argument("images", nargs="*", metavar="IMAGE", help="default: every final image")
    test_cmd.add_argument(
        "--changed", action="store_true", help="only the images the plan marks for test"
    )
    test_cmd.add_argument("--base", metavar="REF", help="with --changed: compare with this ref")
    _image_options(test_cmd)

    dev_cmd = commands.add_parser(
        "dev", help="run an image locally, on 127.0.0.1", usage="nox -s dev -- IMAGE [options]"
    )
    dev_cmd.add_argument("image", metavar="IMAGE", help="target or folder name")
    dev_cmd.add_argument("--port", type=int, help="host port (default: 8888, or the next free)")
    dev_cmd.add_argument("--host", default="127.0.0.1", help="host address to bind")
    dev_cmd.add_argument(
        "--token",
        action="store_true",
        help="ask for a generated token (printed in the URL); needed for a non-loopback --host",
    )
    dev_cmd.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="serve a non-loopback --host with no token: anyone who reaches it runs code",
    )
    dev_cmd.add_argument(
        "--nb-prefix", help="the server's base URL (default: /notebook/username/notebookname)"
    )
    dev_cmd.add_argument("--mount", type=Path, help="a host folder to mount at ~/work")
    dev_cmd.add_argument("--no-browser", action="store_true", help="do not open a browser")
    _image_options(dev_cmd)

    push_cmd = commands.add_parser(
        "push",
        help="push every tag of images: SHA tags first, moving tags (v2, latest) last",
        usage="nox -s push -- IMAGE [IMAGE ...] [options]",
    )
    push_cmd.add_argument("images", nargs="+", metavar="IMAGE", help="target or folder name")
    push_cmd.add_argument("--repo", help="registry/namespace prefix of image names")
    push_cmd.add_argument(
        "--tag", help="push the image that has this tag (default: this commit's SHA tag)"
    )
    push_cmd.add_argument("--dry-run", action="store_true", help="list what would be pushed")
    push_cmd.add_argument(
        "--allow-dirty",
        action="store_true",
        help="also push a build of uncommitted files (under its -dirty tag; refused in CI)",
    )

    verify_cmd = commands.add_parser(
        "verify",
        help="check images' signatures and SBOMs in the registry: who signed, when, which commit",
        usage="nox -s verify -- IMAGE [IMAGE ...] [options]",
    )
    verify_cmd.add_argument("images", nargs="+", metavar="IMAGE", help="target or folder name")
    verify_cmd.add_argument("--repo", help="registry/namespace prefix of image names")
    verify_cmd.add_argument(
        "--tag", help="the image under this tag (default: this commit's SHA tag)"
    )

    retag_cmd = commands.add_parser(
        "retag",
        help="give the stages this commit reuses its tags, registry-side (no layers moved)",
        usage="nox -s retag -- [IMAGE ...] [options]",
    )
    retag_cmd.add_argument(
        "images", nargs="*", metavar="IMAGE", help="default: every stage the plan reuses"
    )
    retag_cmd.add_argument("--dry-run", action="store_true", help="say what would be tagged")
    _common(retag_cmd)

    lint_cmd = commands.add_parser(
        "lint",
        help="ruff, hadolint, shellcheck, actionlint, scan allowlist, CI build levels, "
        "bake --print, layer sizes, credentials, stale docs",
        usage="nox -s lint -- [PATH ...] [--only CHECK ...]",
    )
    lint_cmd.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="lint only the Dockerfiles, scripts, workflows and Python under these files or "
        "folders (default: the whole repository)",
    )
    lint_cmd.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CHECK",
        help="run only this check (repeatable): " + ", ".join(CHECKS),
    )
    commands.add_parser("docs", help="write docs/stages.md and docs/pins.md")
    pins_cmd = commands.add_parser(
        "pins", help="check online that every pin resolves", usage="nox -s pins -- [options]"
    )
    pins_cmd.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    pins_cmd.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--base", metavar="REF", help="compare with this ref (default: auto)")
    command.add_argument("--all", action="store_true", help="mark every stage for build")
    command.add_argument("--repo", help="registry/namespace prefix of image names")
    command.add_argument(
        "--tag", action="append", default=[], help="extra tag for every built image (repeatable)"
    )


def _image_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--tag", help="image tag (default: this branch's tag, as bake gives)")
    command.add_argument("--repo", help="registry/namespace prefix of image names")
    command.add_argument("--pull", action="store_true", help="pull the image if it is missing")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Raw bake flags follow a second `--` (nox consumed the first one).
    raw: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, raw = argv[:at], argv[at + 1 :]
    try:
        args = _parser().parse_args(argv)
        if raw and args.command not in ("bake", "test"):
            raise ZoneError(f"{args.command} takes no raw flags after a second `--`")
        settings = load(Path.cwd())
        if args.command == "lint":
            from tasks.lint import run as lint

            return lint.run(settings, args.paths, args.only)
        if args.command == "docs":
            from tasks import docs

            for written in docs.write(settings.root, settings.bake_path):
                note(f"wrote {written.relative_to(settings.root).as_posix()}")
            return 0
        if args.command == "pins":
            from tasks import pins_check

            return pins_check.run(settings.root, settings.bake_path, args.kind, args.json)
        if getattr(args, "base_image", None):
            check_base_image(args.base_image, "--base-image")
        _check_secrets(getattr(args, "secret", []))
        settings = dataclasses.replace(
            settings,
            registry=args.repo or settings.registry,
            base_image=getattr(args, "base_image", None) or settings.base_image,
        )
        graph = bakefile.load(settings.bake_path)
        if args.command == "plan":
            return run_plan(settings, graph, args)
        if args.command == "retag":
            from tasks import retag

            the_plan = _make_plan(settings, graph, args)
            return retag.run(settings, graph, the_plan, args.images, args.dry_run)
        if args.command in ("test", "dev", "push", "verify"):
            if args.tag and not _TAG.fullmatch(args.tag):
                raise ZoneError(f"--tag {args.tag!r} is not a valid image tag")
            _check_repo(settings)
            if args.command == "dev":
                from tasks import dev

                return dev.run(settings, graph, args)
            if args.command == "verify":
                from tasks import verify

                return verify.run(settings, graph, args.images, args.tag)
            if args.command == "push":
                from tasks import push

                return push.run(
                    settings,
                    graph,
                    args.images,
                    tag=args.tag,
                    dry_run=args.dry_run,
                    allow_dirty=args.allow_dirty,
                )
            from tasks import imagetest

            return imagetest.run(
                settings,
                graph,
                args.images,
                tag=args.tag,
                changed=args.changed,
                pull=args.pull,
                base=args.base,
                pytest_args=tuple(raw),
            )
        return run_bake(settings, graph, args, tuple(raw))
    except ZoneError as error:
        return fail(error)
    except Transient as error:  # a registry hiccup outside any retry loop
        return fail(ZoneError(f"the registry failed: {error}", exit_code=FAILURE))
    except KeyboardInterrupt:
        return interrupted()
    except BrokenPipeError:
        return closed_output()


INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
CLOSED_OUTPUT = 141  # 128 + SIGPIPE: the reader went away before it had the whole output


def interrupted() -> int:
    """Ctrl-C: one word, no traceback, exit 130."""
    with contextlib.suppress(OSError):
        err.print("interrupted")
    return INTERRUPTED


def closed_output() -> int:
    """stdout (or stderr) closed under us (`plan --json | head -c0`): the reader wants no
    more, so say nothing and exit 141, as a process that SIGPIPE ended. Both streams go
    to /dev/null first, so the interpreter's last flush cannot complain either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    return CLOSED_OUTPUT


def _check_secrets(values: list[str]) -> None:
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


def _check_repo(settings: Settings) -> None:
    if not _REPO.fullmatch(settings.registry):
        raise ZoneError(
            f"{settings.registry!r} is not a valid registry/namespace prefix",
            hint="e.g. k8scc01covidacr.azurecr.io or localhost:5000/team (lowercase names)",
        )


def _make_plan(
    settings: Settings, graph: bakefile.BakeGraph, args: argparse.Namespace, detect: bool = True
) -> plan.Plan:
    """The plan; `detect` says whether change detection matters to the user this time."""
    for tag in args.tag:
        if not _TAG.fullmatch(tag):
            raise ZoneError(
                f"--tag {tag!r} is not a valid image tag",
                hint="a tag is up to 128 of A-Z a-z 0-9 _ . - and does not start with . or -",
            )
    _check_repo(settings)
    checkout = changes.open_checkout(settings.root)
    the_plan = plan.make(
        settings, graph, checkout, base=args.base, everything=args.all, extra_tags=tuple(args.tag)
    )
    for message in the_plan.notes:
        note(message)
    # The bake file's own warnings (a base image from Docker Hub) always matter.
    for message in the_plan.warnings if detect else graph.warnings:
        warn(message)
    return the_plan


def run_plan(settings: Settings, graph: bakefile.BakeGraph, args: argparse.Namespace) -> int:
    if args.github_output and not os.environ.get("GITHUB_OUTPUT"):
        raise ZoneError(
            "--github-output needs the GITHUB_OUTPUT environment variable (set in GitHub Actions)"
        )
    the_plan = _make_plan(settings, graph, args)
    _show(the_plan)
    summary.table(
        f"Plan for {the_plan.branch} (compared with {the_plan.base_ref or 'nothing'})",
        ["stage", "action", "why", "tags"],
        [(s.name, s.action, s.reasons or "unchanged", _tag_names(s.tags)) for s in the_plan.stages],
    )
    if args.github_output:
        lines = "".join(f"{k}={v}\n" for k, v in the_plan.github_outputs().items())
        try:
            with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
                handle.write(lines)
        except OSError as exc:
            raise ZoneError(f"cannot write to GITHUB_OUTPUT: {exc}", exit_code=FAILURE) from None
    if args.json:
        out(the_plan.to_json())
    return 0


def run_bake(
    settings: Settings, graph: bakefile.BakeGraph, args: argparse.Namespace, raw: tuple[str, ...]
) -> int:
    from tasks import engine
    from tasks.bake import BakeOptions, invocation, select
    from tasks.reuse import Reuse
    from tasks.sas_image import preflight as sas_preflight

    requested = [name for image in args.images for name in graph.resolve(image)]
    the_plan = _make_plan(settings, graph, args, detect=args.changed)
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
        reuse = Reuse(settings, graph, the_plan, lookups)
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
        raw=raw,
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


def _show(the_plan: plan.Plan) -> None:
    base = the_plan.base_ref or "nothing"
    where = f" (merge base {the_plan.merge_base[:8]})" if the_plan.merge_base else ""
    # Text, not markup: branch, base and file names come from users.
    table = Table(title=shown(one_line(f"Plan for {the_plan.branch}: compared with {base}{where}")))
    for column in ("stage", "action", "why", "tags"):
        table.add_column(column)
    for stage in the_plan.stages:
        action = Text("build", style="bold") if stage.action == "build" else Text("reuse")
        why = "\n".join(
            [one_line(reason) for reason in stage.reasons[:5]]
            + ([f"... {len(stage.reasons) - 5} more"] if len(stage.reasons) > 5 else [])
        )
        table.add_row(
            shown(stage.name),
            action,
            shown(why or "unchanged (--all)" if stage.action == "build" else why or "unchanged"),
            shown(_tag_names(stage.tags)),
        )
    err.print(table)
    err.print(shown(f"test: {', '.join(the_plan.test) or 'nothing'}"))


def _tag_names(refs: list[str]) -> str:
    return ", ".join(ref.rsplit(":", 1)[1] for ref in refs)


def _show_built(
    the_plan: plan.Plan, targets: list[str], reused: dict[str, str], pushed: bool
) -> None:
    table = Table(title="Built")
    table.add_column("stage")
    table.add_column("images")
    # Several images a stage: a list, one line each in the terminal and in the summary.
    rows = [(name, "built", the_plan.stage(name).tags) for name in targets]
    rows += [(name, "reused", [ref]) for name, ref in reused.items()]
    for name, how, images in rows:
        lines = "\n".join(one_line(image) for image in images)
        table.add_row(shown(name), shown(lines if how == "built" else f"reused {lines}"))
    err.print(table)
    title = "Built and pushed" if pushed else "Built"
    summary.table(title, ["stage", "", "images"], rows)
