"""Plan -> one `docker buildx bake` invocation: targets, tags, reused parents, options."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tasks import tags
from tasks.bakefile import BakeGraph
from tasks.console import note
from tasks.plan import Plan
from tasks.settings import Settings

# The tag under which each stage's build cache lives in its registry repository.
CACHE_TAG = "buildcache"


@dataclasses.dataclass(frozen=True)
class BakeOptions:
    push: bool = False
    no_cache: bool = False
    builder: str | None = None
    secrets: tuple[str, ...] = ()
    print_only: bool = False
    registry_cache: bool = False  # read and write each stage's layer cache in the registry
    raw: tuple[str, ...] = ()  # anything after a second `--`, passed to bake as it is


def select(graph: BakeGraph, plan: Plan, requested: list[str], changed_only: bool) -> list[str]:
    """The stages to build for sure. Without --changed: the requested images and all their
    ancestors (no image requested: the default group). With --changed: the requested
    images the plan marks for build (none requested: every stage it marks); their
    ancestors are then found in the registry or built (reuse_parents)."""
    if not requested:
        default = graph.groups.get("default", graph.leaves())
        requested = list(graph.stages) if changed_only else list(default)
    if not changed_only:
        return graph.with_ancestors(requested)
    wanted = set(requested)
    return [name for name in graph.stages if name in wanted and plan.stage(name).action == "build"]


def sources(plan: Plan, settings: Settings, stage: str) -> list[tuple[str, str]]:
    """Where an already built image of `stage` may be in the registry, best first, with
    why each is the same image: (reference, reason)."""
    candidates = []
    if plan.stage(stage).action == "build":
        # Changed: only this very commit's build will do, e.g. pushed by the CI job of
        # the level before. Uncommitted edits or another upstream make it another image.
        if plan.sha and plan.committed and not settings.base_image:
            candidates.append((plan.sha, "this commit's SHA tag: built from these same files"))
    else:
        if plan.merge_base:
            candidates.append((plan.merge_base, "the merge base's SHA tag"))
        if plan.base_branch:
            branch = tags.sanitize(plan.base_branch)
            candidates.append((branch, f"the base branch's tag ({branch})"))
    return [(tags.image_refs(settings.registry, stage, [tag])[0], why) for tag, why in candidates]


def find_built(
    plan: Plan, settings: Settings, stage: str, registry_has: Callable[[str], bool]
) -> tuple[str, str] | None:
    """The first of sources() that the registry has: (reference, why), or None."""
    return next(
        ((ref, why) for ref, why in sources(plan, settings, stage) if registry_has(ref)), None
    )


def reuse_parents(
    graph: BakeGraph,
    plan: Plan,
    settings: Settings,
    targets: list[str],
    registry_has: Callable[[str], bool],
) -> tuple[list[str], dict[str, str]]:
    """Every ancestor of the targets either comes from the registry (find_built) or is
    built too, and then its own parents are looked for in turn."""
    building = set(targets)
    reused: dict[str, str] = {}
    pending = [p for name in targets for p in graph.stages[name].parents]
    while pending:
        parent = pending.pop()
        if parent in building or parent in reused:
            continue
        found = find_built(plan, settings, parent, registry_has)
        if found:
            reused[parent], why = found
            state = "built already" if plan.stage(parent).action == "build" else "unchanged"
            note(f"{parent} is {state}: reusing {reused[parent]} ({why})")
            continue
        if plan.stage(parent).action == "build" and not sources(plan, settings, parent):
            note(f"{parent} changed, and uncommitted edits make it another image: building it")
        elif plan.stage(parent).action == "build":
            note(f"{parent} changed and the registry has no image of this commit: building it")
        else:
            note(f"{parent} is unchanged but no image of it is in the registry: building it")
        building.add(parent)
        pending.extend(graph.stages[parent].parents)
    return [name for name in graph.stages if name in building], reused


def invocation(
    graph: BakeGraph,
    plan: Plan,
    settings: Settings,
    targets: list[str],
    reused: dict[str, str],
    options: BakeOptions,
) -> list[str]:
    """The docker buildx bake command line."""
    argv = ["docker", "buildx", "bake", "--file", str(settings.bake_path)]
    if options.builder:
        argv += ["--builder", options.builder]
    # The docker driver loads images by itself; other drivers need to be told.
    argv += ["--push"] if options.push else ["--load"]
    if options.no_cache:
        argv.append("--no-cache")
    if options.print_only:
        argv.append("--print")
    for name in targets:
        stage = graph.stages[name]
        # The first --set of a list replaces the file's value; the next ones append.
        argv += [f"--set={name}.tags={ref}" for ref in plan.stage(name).tags]
        if plan.sha:
            argv.append(f"--set={name}.labels.org.opencontainers.image.revision={plan.sha}")
        for parent in stage.parents:
            if parent in reused:
                key = stage.context_key_for(parent)
                argv.append(f"--set={name}.contexts.{key}=docker-image://{reused[parent]}")
        if settings.base_image and not stage.parents:
            argv.append(f"--set={name}.args.BASE_IMAGE={settings.base_image}")
        argv += [f"--set={name}.secrets={secret}" for secret in options.secrets]
        if options.registry_cache:
            cache = tags.image_refs(settings.registry, name, [CACHE_TAG])[0]
            argv.append(f"--set={name}.cache-from=type=registry,ref={cache}")
            # mode=max keeps every layer's cache, so a fresh runner rebuilds nothing.
            argv.append(f"--set={name}.cache-to=type=registry,ref={cache},mode=max")
    return [*argv, *options.raw, *targets]
