"""This commit's tags for the stages it does not rebuild, registry-side: the work of
`nox -s retag` (its flags: tasks/commands/retag.py).

A reused stage is an image already in the registry (at the merge base's SHA tag, or the
base branch's). `docker buildx imagetools create` writes the new tags onto that same
manifest: no layer is pulled or pushed, and each new tag serves the source's digest. So
every commit has every stage under its SHA tag, rebuilt or not.

An interrupt (Ctrl-C, or SIGINT to this process alone) stops every worker: no tag is
written after it, and the docker children it cancels are not retried as registry errors.
A registry that stays down through the retries is said to be down, never "no image".
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
from collections.abc import Callable
from typing import TypeVar

from tasks.checkout.changes import Checkout
from tasks.console import FAILURE, ZoneError, note
from tasks.docker import engine
from tasks.planning import tags
from tasks.planning.plan import Plan
from tasks.registry.published import Published, show
from tasks.registry.reuse import Reuse, Source
from tasks.settings import Settings
from tasks.shared import progress
from tasks.shared.retry import classify
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef

T = TypeVar("T")
R = TypeVar("R")


def select(graph: BakeGraph, plan: Plan, images: list[str]) -> list[str]:
    """The stages to retag: the plan's reused ones, or those of `images` (all must be)."""
    if not images:
        return plan.reuse
    named = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    rebuilt = [name for name in named if name not in plan.reuse]
    if rebuilt:
        raise ZoneError(
            f"{', '.join(rebuilt)} changed since the merge base: build and push it instead",
            hint=f"nox -s bake -- {' '.join(rebuilt)} --changed --push",
        )
    return named


def run(
    settings: Settings,
    graph: BakeGraph,
    plan: Plan,
    images: list[str],
    dry_run: bool,
    checkout: Checkout | None,
    quiet: bool = False,
) -> int:
    stages = select(graph, plan, images)
    if not stages:
        note("nothing to retag: every stage is rebuilt")
        return 0
    engine.preflight(None, need_engine=False)
    # A refusal is an error here (log in), not a reason to look elsewhere.
    lookups = engine.Lookups(settings.push_attempts, settings.push_backoff, True)
    reuse = Reuse(settings, graph, plan, lookups, checkout)
    found = dict(zip(stages, _side_by_side(reuse.find, stages), strict=True))
    missing = [name for name, source in found.items() if source is None]
    unverified = [name for name in missing if name in reuse.refused]
    if unverified:
        refused = "; ".join(why for name in unverified for why in reuse.refused[name])
        raise ZoneError(
            f"not retagged: no verified image of {', '.join(unverified)} ({refused})",
            hint="an image not signed by the trusted identity is never reused: rebuild and "
            f"push it signed (nox -s bake -- {' '.join(unverified)} --push), or, while the "
            "registry's images are unsigned, set verify-reuse = false",
            exit_code=FAILURE,
        )
    if missing:
        looked = "; ".join(
            f"{name} at {', '.join(s.ref for s in reuse.sources(name)) or '-'}" for name in missing
        )
        raise ZoneError(
            f"no image to retag for {', '.join(missing)} in the registry (looked for {looked})",
            hint=f"build and push it: nox -s bake -- {' '.join(missing)} --push (in CI: run "
            "the docker workflow by hand with `rebuild` checked)",
            exit_code=FAILURE,
        )
    work = []
    for name in stages:
        source = found[name]
        assert source is not None  # the missing ones were refused above
        new_tags = tags.push_order(tags.tag_names(plan.stage(name).tags), settings)
        note(f"{name}: {source.ref} ({source.why}) -> {', '.join(new_tags)}")
        work.append((source, new_tags))
    if dry_run:
        return 0
    # Stages are independent, and each tag is a few small registry requests: side by side.
    written: list[str] = []
    try:
        # One display for every worker: a row that counts the stages, each named while it runs.
        with progress.Display(quiet) as display:
            items = display.items("retag", len(work))

            def retag(job: tuple[Source, list[str]], name: str) -> list[Published]:
                with items.item(name):
                    return _retag(settings, *job, written)

            done = _side_by_side(lambda pair: retag(*pair), list(zip(work, stages, strict=True)))
    except KeyboardInterrupt:
        note(
            f"interrupted: nothing more is tagged; tagged before it: {', '.join(written) or 'none'}"
        )
        raise
    show(
        [item for stage_done in done for item in stage_done],
        "Retagged registry-side (no layers moved)",
        summary_title="Reused (retagged registry-side, no layers moved)",
    )
    return 0


def _side_by_side(work: Callable[[T], R], items: list[T]) -> list[R]:
    """work(item) for each item in worker threads. On an interrupt (or any failure), the
    workers stop: no registry command starts after it, the running ones are ended."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(items))
    try:
        return list(pool.map(work, items))
    except BaseException:
        engine.stop_registry_work()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _retag(
    settings: Settings, found: Source, new_tags: list[str], written: list[str]
) -> list[Published]:
    """Write the tags group by group (immutable, branch, moving: one request each), and
    check each tag before the next group, so the moving ones go only onto a good image."""
    source = found.ref
    name = ImageRef.parse(source)
    registry = name.host

    def retried(action: Callable[[], R], what: str, ref: str) -> R:
        return engine.with_registry_retries(
            action, what, ref, settings.push_attempts, settings.push_backoff
        )

    def digest_of(ref: str) -> str | None:
        return retried(lambda: engine.registry_digest(ref), f"looking up {ref}", ref)

    digest = found.digest  # the one checked (signature, revision label)
    pinned = found.pinned  # the source tag may move; the digest cannot
    for _, grouped in itertools.groupby(new_tags, key=lambda tag: tags.group(tag, settings)):
        targets = [str(name.with_tag(tag)) for tag in grouped]

        def create(targets: list[str] = targets) -> None:
            flags = [flag for target in targets for flag in ("--tag", target)]
            result = engine.imagetools("create", *flags, pinned)
            if result.returncode != 0:
                raise classify(engine.last_line(result), registry)

        retried(create, f"tagging {', '.join(targets)}", targets[0])
        written.extend(targets)
        for target in targets:
            served = digest_of(target)
            if served != digest and not _same_config(pinned, target):
                raise ZoneError(
                    f"{target} now serves {served}, not the image of {source} ({digest})",
                    exit_code=FAILURE,
                )
    return [Published(name.with_tag(tag), digest) for tag in new_tags]


def _same_config(source: str, target: str) -> bool:
    """Whether two references resolve to the same image config(s): what matters when a
    registry rewrote the manifest around them."""
    configs = []
    for ref in (source, target):
        result = engine.imagetools("inspect", "--format", "{{json .Image}}", ref)
        if result.returncode != 0:
            return False
        configs.append(json.loads(result.stdout))
    return configs[0] == configs[1]
