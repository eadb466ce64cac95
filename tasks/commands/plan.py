"""`nox -s plan`: per stage, build or reuse, why, and its tags; --json for programs."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from tasks import summary, tags
from tasks.commands.options import plan_options
from tasks.console import FAILURE, ZoneError, err, one_line, out, shown
from tasks.context import Context
from tasks.plan import Action, Plan

if TYPE_CHECKING:
    from tasks.estimate import StageEstimate

HELP = "which stages to rebuild and which to reuse"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--github-output", action="store_true", help="also write build/test/matrix there"
    )
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="also: which release layers the rebuilds replace, and their size (reads the registry)",
    )
    parser.add_argument(
        "--digests",
        action="store_true",
        help="also: the image each reused stage is taken from, checked as retag and "
        "bake --changed check it, by digest (reads the registry)",
    )
    plan_options(parser)


def run(context: Context) -> int:
    args = context.args
    if args.github_output and not os.environ.get("GITHUB_OUTPUT"):
        raise ZoneError(
            "--github-output needs the GITHUB_OUTPUT environment variable (set in GitHub Actions)"
        )
    the_plan = context.plan
    _show(the_plan)
    summary.table(
        f"Plan for {the_plan.branch} (compared with {the_plan.base_ref or 'nothing'})",
        ["stage", "action", "why", "tags"],
        [(s.name, s.action, s.reasons or "unchanged", _tag_names(s.tags)) for s in the_plan.stages],
    )
    if args.github_output:
        outputs = the_plan.github_outputs(context.settings.ci_levels)
        lines = "".join(f"{k}={v}\n" for k, v in outputs.items())
        try:
            with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
                handle.write(lines)
        except OSError as exc:
            raise ZoneError(f"cannot write to GITHUB_OUTPUT: {exc}", exit_code=FAILURE) from None
    estimates = _estimate(context) if args.estimate else None
    reused = _reused(context) if args.digests else None
    if args.json:
        document = json.loads(the_plan.to_json())
        if estimates is not None:
            document["estimate"] = [found.to_json() for found in estimates]
        if reused is not None:
            document["reused"] = reused
        out(json.dumps(document, indent=2))
    return 0


def _estimate(context: Context) -> list[StageEstimate]:
    from tasks import estimate  # the docker SDK and registry look-ups: only when asked

    found = estimate.estimate(context.settings, context.graph, context.checkout, context.plan)
    title = "What the rebuilds replace, for every node holding the release (estimate)"
    table = Table(title=title, title_justify="left")
    for column in ("stage", "runs again from", "why", "to pull again"):
        table.add_column(column)
    rows = [
        (
            one.stage,
            one_line(one.start.instruction[:100]) or "every instruction",
            one_line(one.start.why) + (f" ({one.note})" if one.note else ""),
            one.shown(),
        )
        for one in found
    ]
    for row in rows:
        table.add_row(*map(shown, row))
    if found:
        err.print(table)
        err.print(shown(estimate.served_line(found, context.graph)))
    else:
        err.print("estimate: nothing is rebuilt, nothing to pull again")
    summary.table(title, ["stage", "runs again from", "why", "to pull again"], rows)
    for chart in estimate.served_charts(found, context.graph):
        summary.append(chart)
    return found


def _reused(context: Context) -> dict[str, str | None]:
    """Reused stage -> REPO/STAGE@sha256:... of the image retag would tag, None where the
    registry has none that passes (the job then fails, as retag does)."""
    from tasks import engine  # registry look-ups: only when asked
    from tasks.reuse import Reuse

    settings, the_plan = context.settings, context.plan
    lookups = engine.Lookups(settings.push_attempts, settings.push_backoff, True)
    reuse = Reuse(settings, context.graph, the_plan, lookups, context.checkout)
    found = {name: reuse.find(name) for name in the_plan.reuse}
    rows = [
        (name, source.ref, source.pinned) if source else (name, "-", "none")
        for name, source in found.items()
    ]
    for name, ref, pinned in rows:
        err.print(shown(f"{name}: reused from {ref}: {pinned}"))
    summary.table("Reused stages, by the digest that was checked", ["stage", "from", "image"], rows)
    return {name: source.pinned if source else None for name, source in found.items()}


def _show(the_plan: Plan) -> None:
    base = the_plan.base_ref or "nothing"
    where = f" (merge base {the_plan.merge_base[:8]})" if the_plan.merge_base else ""
    # Text, not markup: branch, base and file names come from users.
    table = Table(title=shown(one_line(f"Plan for {the_plan.branch}: compared with {base}{where}")))
    for column in ("stage", "action", "why", "tags"):
        table.add_column(column)
    for stage in the_plan.stages:
        action = Text("build", style="bold") if stage.action == Action.BUILD else Text("reuse")
        why = "\n".join(
            [one_line(reason) for reason in stage.reasons[:5]]
            + ([f"... {len(stage.reasons) - 5} more"] if len(stage.reasons) > 5 else [])
        )
        table.add_row(
            shown(stage.name),
            action,
            shown(
                why or "unchanged (--all)" if stage.action == Action.BUILD else why or "unchanged"
            ),
            shown(_tag_names(stage.tags)),
        )
    err.print(table)
    err.print(shown(f"test: {', '.join(the_plan.test) or 'nothing'}"))


def _tag_names(refs: list[str]) -> str:
    return ", ".join(tags.tag_names(refs))
