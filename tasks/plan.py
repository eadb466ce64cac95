"""The Plan: per stage, changed or not since the merge base, why, build or reuse, and tags."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import PurePosixPath

from tasks import bakefile, tags
from tasks.bakefile import BakeGraph
from tasks.changes import Checkout, find_base
from tasks.console import ZoneError
from tasks.settings import Settings

TESTS_FOR_EVERY_IMAGE = ("tests/general/", "tests/conftest.py")


@dataclasses.dataclass(frozen=True)
class StagePlan:
    name: str
    context: str
    parent: str | None
    changed: bool
    reasons: list[str]
    action: str  # "build" or "reuse"
    tags: list[str]  # full image references


@dataclasses.dataclass(frozen=True)
class Plan:
    base_ref: str | None
    merge_base: str | None
    branch: str
    sha: str | None
    stages: list[StagePlan]
    test: list[str]
    warnings: list[str]

    @property
    def build(self) -> list[str]:
        return [s.name for s in self.stages if s.action == "build"]

    def stage(self, name: str) -> StagePlan:
        return next(s for s in self.stages if s.name == name)

    def to_json(self) -> str:
        document = {
            "base_ref": self.base_ref,
            "merge_base": self.merge_base,
            "branch": self.branch,
            "sha": self.sha,
            "stages": [dataclasses.asdict(s) for s in self.stages],
            "build": self.build,
            "test": self.test,
            "warnings": self.warnings,
        }
        return json.dumps(document, indent=2)

    def github_outputs(self) -> dict[str, str]:
        """Values for $GITHUB_OUTPUT: job lists and a build matrix, as compact JSON."""
        matrix = {
            "include": [
                {"stage": s.name, "parent": s.parent or "", "context": s.context}
                for s in self.stages
                if s.action == "build"
            ]
        }
        return {
            "build": json.dumps(self.build),
            "test": json.dumps(self.test),
            "matrix": json.dumps(matrix, separators=(",", ":")),
        }


def make(
    settings: Settings,
    graph: BakeGraph,
    checkout: Checkout | None,
    base: str | None = None,
    everything: bool = False,
    extra_tags: tuple[str, ...] = (),
    environ: Mapping[str, str] = os.environ,
) -> Plan:
    revision = tags.revision(checkout, environ)
    warnings = [revision.note] if revision.note else []
    base_ref = merge_base = None
    if everything:
        direct = {name: ["--all"] for name in graph.stages}
        retest: set[str] = set()
    elif checkout is None:
        direct, retest = (
            {name: ["no git repository to compare with"] for name in graph.stages},
            set(),
        )
    else:
        base_ref, how = find_base(checkout, base, environ)
        merge_base = checkout.merge_base(base_ref) if base_ref else None
        if base_ref is None:
            warnings.append(f"no base branch to compare with ({how}): every stage is built")
        elif merge_base is None:
            warnings.append(
                f"no merge base between HEAD and {base_ref} (a shallow clone? "
                "check out with fetch-depth: 0): every stage is built"
            )
        if merge_base is None:
            direct = {name: ["no merge base to compare with"] for name in graph.stages}
            retest = set()
        else:
            paths = checkout.changed_paths(merge_base)
            direct = _changed_stages(settings, graph, checkout, merge_base, paths)
            retest = _retested_images(graph, paths)

    stage_tags = revision.tags(settings, extra_tags)
    stages: list[StagePlan] = []
    changed: set[str] = set()
    for stage in graph.stages.values():
        reasons = list(direct.get(stage.name, []))
        reasons += [f"parent {p} is rebuilt" for p in stage.parents if p in changed]
        if reasons:
            changed.add(stage.name)
        stages.append(
            StagePlan(
                name=stage.name,
                context=stage.context,
                parent=stage.parent,
                changed=bool(reasons),
                reasons=reasons,
                action="build" if reasons else "reuse",
                tags=tags.image_refs(settings.registry, stage.name, stage_tags),
            )
        )
    test = [name for name in graph.stages if name in changed or name in retest]
    return Plan(
        base_ref=base_ref,
        merge_base=merge_base,
        branch=revision.branch,
        sha=revision.sha,
        stages=stages,
        test=test,
        warnings=warnings,
    )


def _changed_stages(
    settings: Settings, graph: BakeGraph, checkout: Checkout, merge_base: str, paths: list[str]
) -> dict[str, list[str]]:
    """Stage -> the changed paths (or bake file differences) that change it directly."""
    direct: dict[str, list[str]] = {}
    for path in paths:
        if PurePosixPath(path).suffix.lower() == ".md":
            continue
        for stage in graph.stages.values():
            if stage.owns(path):
                direct.setdefault(stage.name, []).append(path)
    if settings.bake_file in paths:
        for name, why in _bake_file_differences(settings, graph, checkout, merge_base).items():
            direct.setdefault(name, []).append(why)
    return direct


def _bake_file_differences(
    settings: Settings, graph: BakeGraph, checkout: Checkout, merge_base: str
) -> dict[str, str]:
    source = settings.bake_file
    old_text = checkout.file_at(merge_base, source)
    if old_text is None:
        return {name: f"{source} (new file)" for name in graph.stages}
    try:
        old = bakefile.parse(old_text, f"{source} at {merge_base[:8]}").stages
    except ZoneError:
        return {name: f"{source} (unreadable at the merge base)" for name in graph.stages}
    differences = {}
    for name, stage in graph.stages.items():
        if name not in old:
            differences[name] = f"{source} (new target)"
        elif old[name].definition != stage.definition:
            differences[name] = f"{source} (target changed)"
    return differences


def _retested_images(graph: BakeGraph, paths: list[str]) -> set[str]:
    """Images whose tests changed: they are retested even when not rebuilt."""
    if any(p.startswith(TESTS_FOR_EVERY_IMAGE) for p in paths):
        return set(graph.stages)
    aliases = graph.aliases()
    retest = set()
    for path in paths:
        parts = PurePosixPath(path).parts
        if len(parts) > 2 and parts[0] == "tests" and parts[1] in aliases:
            retest.add(aliases[parts[1]])
    return retest
