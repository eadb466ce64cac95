"""Plan -> one `docker buildx bake` invocation: targets, tags, reused parents, options."""

from __future__ import annotations

import dataclasses

from tasks.docker.engine import REVISION_LABEL
from tasks.planning import tags
from tasks.planning.plan import Plan
from tasks.settings import Settings
from tasks.stack import upstreams
from tasks.stack.bakefile import BakeGraph, Stage

# Each stage's build cache lives in its own registry repository at CACHE_TAG-BRANCH.
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
    ancestors are then found in the registry or built (tasks.registry.reuse)."""
    if not requested:
        default = graph.groups.get("default", graph.leaves())
        requested = list(graph.stages) if changed_only else list(default)
    if not changed_only:
        return graph.with_ancestors(requested)
    wanted = set(requested)
    return [name for name in plan.build if name in wanted]


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
    upstream = upstreams.overrides(graph, settings.base_image)
    for name in targets:
        stage = graph.stages[name]
        # The first --set of a list replaces the file's value; the next ones append.
        argv += [f"--set={name}.tags={ref}" for ref in plan.stage(name).tags]
        if plan.sha:
            # A dirty tree's label names no commit, nor does a build with inputs the
            # commit does not pin (-custom, -nosas): reuse and push check it.
            label = plan.sha + ("" if plan.committed else tags.DIRTY) + plan.variant
            argv.append(f"--set={name}.labels.{REVISION_LABEL}={label}")
        argv += _parent_links(stage, reused)
        if name in upstream:
            argv.append(f"--set={name}.args.{upstreams.ARG}={upstream[name]}")
        argv += [f"--set={name}.secrets={secret}" for secret in options.secrets]
        if options.registry_cache:
            # Each branch writes its own cache (pull requests never overwrite master's) and
            # reads it and its base branch's (a new branch starts warm).
            base = plan.base_branch or settings.release_branch
            own, warm = (cache_ref(settings, name, branch) for branch in (plan.branch, base))
            for ref in dict.fromkeys([own, warm]):
                argv.append(f"--set={name}.cache-from=type=registry,ref={ref}")
            # mode=max keeps every layer's cache, so a fresh runner rebuilds nothing.
            argv.append(f"--set={name}.cache-to=type=registry,ref={own},mode=max")
    return [*argv, *options.raw, *targets]


def _parent_links(stage: Stage, reused: dict[str, str]) -> list[str]:
    """Each parent reaches the child through a named context: the parent target built in
    this same bake, or its image from the registry, by the digest reuse checked
    (REPO/STAGE@sha256:..., never a tag, which may have moved since). A parent named only
    by a build arg gets the link here (the arg set to the context's key), so the child is
    never built FROM a stale local tag or a Docker Hub image that happens to have the same
    name."""
    flags = []
    for link in stage.links:
        key = link.context_key or link.parent
        if link.arg:  # the FROM then reads the named context, whatever the arg's spelling
            flags.append(f"--set={stage.name}.args.{link.arg}={key}")
        if link.parent in reused:
            flags.append(f"--set={stage.name}.contexts.{key}=docker-image://{reused[link.parent]}")
        elif link.context_key is None:
            flags.append(f"--set={stage.name}.contexts.{key}=target:{link.parent}")
    return flags


def cache_ref(settings: Settings, stage: str, branch: str) -> str:
    tag = f"{CACHE_TAG}-{tags.sanitize(branch)}"[:128]
    return tags.image_refs(settings.registry, stage, [tag])[0]
