"""The Plan: per stage, changed or not since the merge base, why, build or reuse, and tags."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
from collections.abc import Mapping

from tasks import bakefile, inputs, tags, unpinned, upstreams
from tasks.bakefile import BakeGraph, Stage
from tasks.changes import Checkout, find_base
from tasks.console import ZoneError
from tasks.settings import Settings

TESTS = "tests"


class Action(str, enum.Enum):
    """What the plan does with a stage. A str, so the JSON and the GitHub outputs carry
    its value ("build", "reuse") as they always have."""

    BUILD = "build"
    REUSE = "reuse"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class StagePlan:
    name: str
    context: str
    parent: str | None
    parents: list[str]  # every parent stage (a named context or a build arg naming it)
    served: bool  # a leaf of the graph: an image people run, which the image tests cover
    changed: bool
    reasons: list[str]
    action: Action
    tags: list[str]  # full image references


@dataclasses.dataclass(frozen=True)
class Plan:
    base_ref: str | None
    base_branch: str | None  # the branch base_ref names, when it names one
    merge_base: str | None
    branch: str
    sha: str | None
    stages: list[StagePlan]  # in build order: every parent before its children
    test: list[str]
    notes: list[str]  # about tags
    warnings: list[str]  # about change detection
    committed: bool = False  # the working tree is HEAD: the SHA tag names exactly these files
    variant: str = ""  # tags.CUSTOM or tags.NO_SAS: inputs the commit does not pin

    @functools.cached_property
    def _by_name(self) -> dict[str, StagePlan]:
        return {s.name: s for s in self.stages}

    def stage(self, name: str) -> StagePlan:
        try:
            return self._by_name[name]
        except KeyError:
            raise ZoneError(
                f"no stage {name!r} in the plan",
                hint=f"the plan's stages: {', '.join(self._by_name) or 'none'}",
            ) from None

    def named(self, action: Action) -> list[str]:
        """The stages the plan gives `action`, in build order."""
        return [s.name for s in self.stages if s.action == action]

    @property
    def build(self) -> list[str]:
        return self.named(Action.BUILD)

    def to_json(self) -> str:
        document = {
            "base_ref": self.base_ref,
            "base_branch": self.base_branch,
            "merge_base": self.merge_base,
            "branch": self.branch,
            "sha": self.sha,
            "stages": [dataclasses.asdict(s) for s in self.stages],
            "build": self.build,
            "test": self.test,
            "warnings": self.notes + self.warnings,
        }
        return json.dumps(document, indent=2)

    @property
    def reuse(self) -> list[str]:
        return self.named(Action.REUSE)

    @property
    def retest(self) -> list[str]:
        """Stages to test that are not rebuilt: only their tests changed."""
        return [name for name in self.reuse if name in self.test]

    def levels(self) -> list[list[str]]:
        """The stages to build, in waves: each stage's built parents are in earlier waves."""
        level: dict[str, int] = {}
        for stage in self.stages:  # graph order: parents come first
            if stage.action == Action.BUILD:
                level[stage.name] = 1 + max((level.get(p, 0) for p in stage.parents), default=0)
        return [
            [name for name, at in level.items() if at == wave]
            for wave in range(1, max(level.values(), default=0) + 1)
        ]

    def github_outputs(self, ci_levels: int) -> dict[str, str]:
        """Values for $GITHUB_OUTPUT, as compact JSON: job lists, a matrix of every stage
        to build, one matrix per build level (`level1` ... `level<ci_levels>`, the
        workflow's level jobs; empty when there is nothing at that level), the stages to
        retag and the stages only to retest."""
        levels = self.levels()
        if len(levels) > ci_levels:
            raise ZoneError(
                f"the stages to build form {len(levels)} levels, but the workflow builds at "
                f"most {ci_levels} (setting [tool.zone] ci-levels)",
                hint=more_levels(ci_levels, len(levels)),
            )

        def jobs(names: list[str]) -> str:
            include = [
                {
                    "stage": name,
                    "parent": self.stage(name).parent or "",
                    "context": self.stage(name).context,
                    "test": name in self.test,
                }
                for name in names
            ]
            return _compact({"include": include})

        outputs = {
            "build": _compact(self.build),
            "test": _compact(self.test),
            "reuse": _compact(self.reuse),
            "retest": _compact(self.retest),
            "sha": self.sha or "",
            "matrix": jobs(self.build),
        }
        for number in range(1, ci_levels + 1):
            names = levels[number - 1] if number <= len(levels) else []
            outputs[f"level{number}"] = jobs(names) if names else ""
        return outputs


def more_levels(have: int, need: int) -> str:
    """What to add for a graph `need` levels deep when the workflow builds `have`."""
    jobs = f"build-{have + 1}" if need == have + 1 else f"build-{have + 1} ... build-{need}"
    return (
        f"add jobs {jobs} to .github/workflows/docker.yaml (each needing the one before, its "
        f"matrix the plan's levelN, exported in the plan job's outputs) and set "
        f"ci-levels = {need} under [tool.zone] in pyproject.toml"
    )


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def make(
    settings: Settings,
    graph: BakeGraph,
    checkout: Checkout | None,
    base: str | None = None,
    everything: bool = False,
    extra_tags: tuple[str, ...] = (),
    environ: Mapping[str, str] = os.environ,
    revision: tags.Revision | None = None,
) -> Plan:
    """`revision`: the checkout's, when the caller has worked it out already."""
    revision = revision or tags.revision(checkout, environ)
    notes = [revision.note] if revision.note else []
    warnings: list[str] = list(graph.warnings)
    for stage in graph.stages.values():
        inputs.refuse_links_outside(settings.root, settings.bake_path.parent, stage)
    with_tests = tested(settings, graph)
    base_ref = base_branch = merge_base = None
    direct: dict[str, list[str]] = {}
    retest: set[str] = set()
    if checkout is None:
        if base:
            raise ZoneError(f"--base {base!r} needs a git repository, and this is not one")
        unknown = "no git repository to compare with"
    else:
        base_ref, how = find_base(checkout, base, environ)
        merge_base = checkout.merge_base(base_ref) if base_ref else None
        base_branch = checkout.branch_of(base_ref) if base_ref else None
        unknown = "no merge base to compare with"
        if base_ref is None:
            warnings.append(f"no base branch to compare with ({how}): every stage is built")
        elif merge_base is None:
            warnings.append(
                f"no merge base between HEAD and {base_ref} (a shallow clone? "
                "check out with fetch-depth: 0): every stage is built"
            )
        else:
            paths = checkout.changed_paths(merge_base)
            direct = _changed_stages(settings, graph, checkout, merge_base, paths)
            retest = _retested(graph, with_tests, paths)
    if merge_base is None:
        direct = {name: [unknown] for name in graph.stages}
    for name, image in unpinned.upstream_replaced(settings, graph).items():
        direct.setdefault(name, []).append(f"--base-image {image}")
    said = upstreams.note(graph, upstreams.overrides(graph, settings.base_image))
    warnings += [said] if said else []
    warnings += orphan_tests(settings, graph)
    overridden = unpinned.overridden_variables(settings, environ)
    for name in unpinned.environment(settings, graph, environ):
        shown = ", ".join(f"{key}={value}" for key, value in overridden.items())
        direct.setdefault(name, []).append(f"{shown} (environment, not this commit's pins)")

    stage_tags = revision.tags(settings, extra_tags)
    stages: list[StagePlan] = []
    changed = set(graph.with_descendants(direct))
    for stage in graph.stages.values():
        reasons = list(direct.get(stage.name, []))
        reasons += [f"parent {p} is rebuilt" for p in stage.parents if p in changed]
        stages.append(
            StagePlan(
                name=stage.name,
                context=stage.context,
                parent=stage.parent,
                parents=list(stage.parents),
                served=not graph.children(stage.name),
                changed=stage.name in changed,
                reasons=reasons,
                action=Action.BUILD if stage.name in changed or everything else Action.REUSE,
                tags=tags.image_refs(settings.registry, stage.name, stage_tags),
            )
        )
    built = {s.name for s in stages if s.action == Action.BUILD}
    test = [name for name in with_tests if name in built or name in retest]
    return Plan(
        base_ref=base_ref,
        base_branch=base_branch,
        merge_base=merge_base,
        branch=revision.branch,
        sha=revision.sha,
        stages=stages,
        test=test,
        notes=notes,
        warnings=warnings,
        committed=checkout is not None and not revision.dirty,
        variant=revision.variant,
    )


def changed_since(
    settings: Settings, graph: BakeGraph, checkout: Checkout, revision: str
) -> set[str]:
    """The stages whose inputs differ between `revision` and the working tree, with their
    descendants: what an image built from `revision` would not have."""
    paths = checkout.changed_paths(revision)
    direct = set(_changed_stages(settings, graph, checkout, revision, paths))
    direct.update(unpinned.upstream_replaced(settings, graph))
    direct.update(unpinned.environment(settings, graph, os.environ))
    return set(graph.with_descendants(direct))


def _changed_stages(
    settings: Settings, graph: BakeGraph, checkout: Checkout, merge_base: str, paths: list[str]
) -> dict[str, list[str]]:
    """Stage -> the changed paths its build reads (or bake file differences) that change
    it directly."""
    direct: dict[str, list[str]] = {}
    folder, offset = settings.bake_path.parent, settings.bake_folder
    for stage in graph.stages.values():
        reads = inputs.of(folder, stage)
        for path in paths:
            if offset and not path.startswith(offset + "/"):
                continue
            why = reads.why(path[len(offset) + 1 :] if offset else path)
            if why:
                direct.setdefault(stage.name, []).append(f"{offset}/{why}" if offset else why)
    if settings.bake_file in paths:
        for name, why in _bake_file_differences(settings, graph, checkout, merge_base).items():
            direct.setdefault(name, []).append(why)
    return direct


def stages_at(
    settings: Settings, checkout: Checkout, merge_base: str
) -> tuple[Mapping[str, Stage] | None, str]:
    """The bake file's stages at the merge base, or (None, why there are none)."""
    source = settings.bake_file
    old_text = checkout.file_at(merge_base, source)
    if old_text is None:
        return None, f"{source} (new file)"
    try:
        # Read with today's Dockerfiles, so that the same build args count as parent links.
        where = f"{source} at {merge_base[:8]}"
        return bakefile.parse(old_text, where, root=settings.bake_path.parent).stages, ""
    except ZoneError:
        return None, f"{source} (unreadable at the merge base)"


def _bake_file_differences(
    settings: Settings, graph: BakeGraph, checkout: Checkout, merge_base: str
) -> dict[str, str]:
    source = settings.bake_file
    old, why = stages_at(settings, checkout, merge_base)
    if old is None:
        return dict.fromkeys(graph.stages, why)
    differences = {}
    for name, stage in graph.stages.items():
        if name not in old:
            differences[name] = f"{source} (new target)"
        elif old[name].comparable() != stage.comparable():
            differences[name] = f"{source} (target changed)"
    return differences


def tested(settings: Settings, graph: BakeGraph) -> dict[str, list[str]]:
    """Stage -> its test folders: tests/general/ for a served image (a leaf), and
    tests/<name>/ or tests/<folder>/ (where the folder builds that target alone) for any
    stage that has one. A stage with none has no tests to run."""
    folders: dict[str, list[str]] = {}
    for stage in graph.stages.values():
        own = dict.fromkeys([stage.name, graph.alias_of(stage.name) or stage.name])
        found = [f"{TESTS}/{name}" for name in own if (settings.root / TESTS / name).is_dir()]
        if not graph.children(stage.name):
            found.insert(0, f"{TESTS}/general")
        if found:
            folders[stage.name] = found
    return folders


def orphan_tests(settings: Settings, graph: BakeGraph) -> list[str]:
    """A warning per tests/<name>/ that names no target (nor a folder that builds one
    target alone): no plan ever runs its tests."""
    folder = settings.root / TESTS
    names = set(graph.aliases()) | {"general"}
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return [
        f"{TESTS}/{name}/ names no target: its tests never run (rename it to a target's "
        f"name: {', '.join(graph.stages)})"
        for name in found
        if name not in names and not name.startswith((".", "_"))
    ]


def _shared_test_setup(path: str) -> bool:
    """The image tests' own modules beside the stage folders (tests/conftest.py, the
    tracked container, the browser): every stage's tests run on them."""
    folder, _, name = path.rpartition("/")
    return folder == TESTS and name.endswith(".py")


def _retested(graph: BakeGraph, with_tests: dict[str, list[str]], paths: list[str]) -> set[str]:
    """Stages whose tests changed: they are retested even when not rebuilt."""
    retest: set[str] = set()
    for path in paths:
        if _shared_test_setup(path):
            retest.update(with_tests)
        for name, folders in with_tests.items():
            if any(path.startswith(folder + "/") for folder in folders):
                retest.add(name)
    return retest
