"""Plan -> one `docker buildx bake` invocation: targets, tags, reused parents, options."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tasks import tags
from tasks.bakefile import BakeGraph
from tasks.console import note
from tasks.plan import Plan
from tasks.settings import Settings


@dataclasses.dataclass(frozen=True)
class BakeOptions:
    push: bool = False
    no_cache: bool = False
    builder: str | None = None
    secrets: tuple[str, ...] = ()
    print_only: bool = False
    raw: tuple[str, ...] = ()  # anything after a second `--`, passed to bake as it is


def select(graph: BakeGraph, plan: Plan, requested: list[str], changed_only: bool) -> list[str]:
    """The stages to build: the requested images and their ancestors (the plan's, with
    --changed). No image requested: the default group, or with --changed, every change."""
    if not requested:
        requested = list(graph.groups.get("default", graph.leaves()))
        if changed_only:
            requested = list(graph.stages)
    chain = graph.with_ancestors(requested)
    if not changed_only:
        return chain
    return [name for name in chain if plan.stage(name).action == "build"]


def reuse_parents(
    graph: BakeGraph,
    plan: Plan,
    settings: Settings,
    targets: list[str],
    registry_has: Callable[[str], bool],
) -> tuple[list[str], dict[str, str]]:
    """For each unbuilt parent of a built stage, find its image in the registry: first at
    the merge base's SHA (built from exactly the same inputs), then at the base branch's
    tag. A parent found in neither is built after all."""
    building = set(targets)
    reused: dict[str, str] = {}
    candidates = []
    if plan.merge_base:
        candidates.append((plan.merge_base, "the merge base's SHA tag"))
    if plan.base_branch:
        branch = tags.sanitize(plan.base_branch)
        candidates.append((branch, f"the base branch's tag ({branch})"))
    pending = [p for name in targets for p in graph.stages[name].parents]
    while pending:
        parent = pending.pop()
        if parent in building or parent in reused:
            continue
        for tag, why in candidates:
            ref = tags.image_refs(settings.registry, parent, [tag])[0]
            if registry_has(ref):
                reused[parent] = ref
                note(f"{parent} is unchanged: reusing {ref} ({why})")
                break
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
    return [*argv, *options.raw, *targets]
