"""Before a build: which layers of the release the plan's rebuilds replace, and what that
costs a node holding the release (`nox -s plan -- --estimate`).

Each rebuilt stage runs its own instructions again from the first one a change touches
(tasks/invalidation.py); a rebuilt parent runs all of them again. The release's image
config has one history entry per own instruction, last in its history, and its manifest
the compressed size of each layer: so the layers from that instruction on, with their
sizes, are known from three small registry documents per stage, before anything is
built. An estimate: a layer rebuilt byte for byte the same is a layer a node already
has, and BuildKit rarely makes one.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import posixpath
from pathlib import Path

from tasks import charts, inputs, invalidation, layers, plan, tags
from tasks.bakefile import BakeGraph, Stage
from tasks.changes import Checkout
from tasks.cost import size, total
from tasks.dockerfile import parse
from tasks.invalidation import Start
from tasks.layers import Image, Layer
from tasks.plan import Action, Plan
from tasks.settings import Settings

LOOKUPS = 4  # release look-ups at once: each is mostly waiting for the registry


@dataclasses.dataclass(frozen=True)
class StageEstimate:
    stage: str
    release: str  # the reference compared with
    start: Start
    replaced: tuple[Layer, ...]  # the release's layers the rebuild replaces, oldest first
    layers: int  # the release image's layer count (0: no release)
    note: str = ""  # what the figure leaves out, when something

    @property
    def bytes(self) -> int | None:
        """Compressed bytes a node holding the release pulls again; None: no release."""
        return total(layer.compressed for layer in self.replaced) if self.layers else None

    def shown(self) -> str:
        if not self.layers:
            return f"no release at {self.release}: every layer is new"
        return f"{len(self.replaced)} of {self.layers} layers, {size(self.bytes)}"

    def to_json(self) -> dict:
        return {
            "stage": self.stage,
            "release": self.release,
            "first_rebuilt_index": self.start.index,
            "first_rebuilt_instruction": self.start.instruction,
            "why": self.start.why,
            "release_layers": self.layers,
            "replaced_layers": [dataclasses.asdict(layer) for layer in self.replaced],
            "replaced_bytes": self.bytes,
            "note": self.note,
        }


def estimate(
    settings: Settings, graph: BakeGraph, checkout: Checkout | None, the_plan: Plan
) -> list[StageEstimate]:
    """One estimate per stage the plan builds, in build order."""
    built = the_plan.build
    names = {name: tags.image_name(settings.registry, name) for name in built}
    refs = {name: str(names[name].with_tag(settings.version_tag)) for name in built}
    with concurrent.futures.ThreadPoolExecutor(LOOKUPS) as pool:
        looked_up = pool.map(lambda name: layers.remote(refs[name], settings), built)
        releases = dict(zip(built, looked_up, strict=True))
    dockerfiles = {
        name: _Dockerfiles.read(settings, checkout, the_plan.merge_base, graph.stages[name])
        for name in built
    }
    from_parents = {name: _from_parent(graph.stages[name], dockerfiles[name].new) for name in built}
    starts = _starts(settings, graph, checkout, the_plan, dockerfiles, from_parents)
    found: dict[str, StageEstimate] = {}
    first_replaced: dict[str, int] = {}  # stage -> index of its first replaced release layer
    for name in built:
        release = releases[name]
        start = starts[name]
        if release is None:
            found[name] = StageEstimate(name, refs[name], start, (), 0)
            continue
        stage = graph.stages[name]
        own = _own_layer_indexes(release, dockerfiles[name].own_keywords(stage))
        note = ""
        if own is None:  # a history that does not match the Dockerfile
            index = 0
            note = "its history does not match its Dockerfile: every layer counted"
        else:
            index = next((i for at, i in own if at >= start.index), len(release.layers))
        parent = from_parents[name]
        if parent in first_replaced and the_plan.stage(parent).action == Action.BUILD:
            index = min(index, first_replaced[parent])  # its parent's layers are its first
        elif not parent and start.index == 0 and own is not None:
            note = "a new upstream image may bring layers of its own, not known until pulled"
        first_replaced[name] = index
        found[name] = StageEstimate(
            name, refs[name], start, release.layers[index:], len(release.layers), note
        )
    return [found[name] for name in built]


def served_line(found: list[StageEstimate], graph: BakeGraph) -> str:
    """What a node pulls again for each served image it holds, and for all of them (a
    layer two images share is pulled once)."""
    served = [one for one in found if not graph.children(one.stage)]
    if not served:
        return "served images: none rebuilt"
    each = ", ".join(
        f"{one.stage} " + ("every layer (no release yet)" if one.bytes is None else size(one.bytes))
        for one in served
    )
    if len(served) == 1 or any(one.bytes is None for one in served):
        return f"a node pulls again: {each}"
    union = {
        layer.blob or layer.diff_id: layer.compressed for one in served for layer in one.replaced
    }
    return f"a node pulls again: {each}; all {len(served)}: {size(total(union.values()))}"


def served_charts(found: list[StageEstimate], graph: BakeGraph, top: int = charts.TOP) -> list[str]:
    """For each served image with a release: a Mermaid chart of the largest release layers
    its rebuild replaces (what a node pulls again), then the rest as one bar."""
    drawn = []
    for one in found:
        if graph.children(one.stage) or one.bytes is None:
            continue
        items = [
            (layer.instruction or f"layer {layer.diff_id[7:19]}", layer.compressed or 0)
            for layer in one.replaced
        ]
        title = f"{one.stage}: {size(one.bytes)} to pull again (estimate)"
        drawn.append(charts.mermaid(title, charts.bars(items, top)))
    return [chart for chart in drawn if chart]


def _starts(
    settings: Settings,
    graph: BakeGraph,
    checkout: Checkout | None,
    the_plan: Plan,
    dockerfiles: dict[str, _Dockerfiles],
    from_parents: dict[str, str | None],
) -> dict[str, Start]:
    """Where each rebuilt stage's own instructions start to run again."""
    merge_base = the_plan.merge_base
    if checkout is None or merge_base is None:
        unknown = Start(0, "", "no merge base to compare with")
        return dict.fromkeys(the_plan.build, unknown)
    folder, offset = settings.bake_path.parent, settings.bake_folder
    paths = [
        path[len(offset) + 1 :] if offset else path
        for path in checkout.changed_paths(merge_base)
        if not offset or path.startswith(offset + "/")
    ]
    old_stages, no_stages = plan.stages_at(settings, checkout, merge_base)
    rebuilt = set(the_plan.build)
    starts = {}
    for name in the_plan.build:
        stage = graph.stages[name]
        reasons = the_plan.stage(name).reasons
        whole: str | None = next((r for r in reasons if r.startswith("--base-image")), None)
        # A rebuilt FROM parent runs every own instruction again; another rebuilt parent
        # (a COPY --from) runs again the first instruction that names it, and what follows.
        new_text, from_parent = dockerfiles[name].new, from_parents[name]
        if from_parent in rebuilt:
            whole = whole or f"parent {from_parent} is rebuilt"
        read_lines = [
            (line, f"parent {p} is rebuilt")
            for p in stage.parents
            if p in rebuilt and p != from_parent
            for line in _lines_naming(stage, p, new_text)
        ]
        if not reasons:
            whole = "built by --all: the estimate counts every layer"
        changed_args: list[str] = []
        if settings.bake_file in [_repository_path(offset, p) for p in paths]:
            old = old_stages.get(name) if old_stages is not None else None
            if old is None:
                whole = whole or no_stages or f"{settings.bake_file} (new target)"
            else:
                whole = whole or _target_difference(old, stage, settings.bake_file)
                changed_args = _changed_args(old, stage)
        reads = inputs.of(folder, stage)
        read_lines += [
            (found[1], found[0])
            for path, found in zip(paths, map(reads.reader, paths), strict=True)
            if found and path != stage.dockerfile  # the Dockerfile is compared below
        ]
        old_text = dockerfiles[name].old
        if new_text is None:
            whole = whole or f"{stage.dockerfile} cannot be read"
        target = stage.definition.get("target")
        starts[name] = invalidation.first_rebuilt(
            old_text, new_text or "", target, read_lines, changed_args, whole
        )
    return starts


def _from_parent(stage: Stage, text: str | None) -> str | None:
    """The parent stage the image's FROM names (through a build arg or a named context);
    the first parent when the Dockerfile does not tell."""
    froms = [item for item in parse(text or "") if item.keyword == "FROM"]
    target = str(stage.definition.get("target") or "").lower()
    named = [item for item in froms if target and item.arguments.lower().endswith(f" as {target}")]
    chosen = (named or froms[-1:])[:1]
    words = chosen[0].arguments.split() if chosen else []
    for link in stage.links:
        if words and words[0] in _names(stage, link.parent):
            return link.parent
    return stage.parent


def _names(stage: Stage, parent: str) -> set[str]:
    """How the Dockerfile can name `parent`: its context key, or its build arg."""
    found: set[str] = set()
    for link in stage.links:
        if link.parent == parent:
            found.update([link.context_key] if link.context_key else [])
            found.update([f"${link.arg}", f"${{{link.arg}}}"] if link.arg else [])
    return found


def _lines_naming(stage: Stage, parent: str, text: str | None) -> list[int]:
    """The lines of the instructions after a FROM that name `parent` (--from=KEY, or its
    build arg); [0] (the whole stage) when none can be found."""
    names = _names(stage, parent)
    lines = [
        item.line
        for item in parse(text or "")
        if item.keyword != "FROM"
        and any(
            name in part for name in names for part in (item.arguments, *dict(item.flags).values())
        )
    ]
    return lines or [0]


@dataclasses.dataclass(frozen=True)
class _Dockerfiles:
    """A stage's Dockerfile at the merge base (what the release was built from, as far
    as the checkout knows; None: none there) and in the working tree (None: unreadable)."""

    old: str | None
    new: str | None

    @classmethod
    def read(
        cls, settings: Settings, checkout: Checkout | None, merge_base: str | None, stage: Stage
    ) -> _Dockerfiles:
        old = None
        if checkout is not None and merge_base:
            path = _repository_path(settings.bake_folder, stage.dockerfile)
            old = checkout.file_at(merge_base, path)
        return cls(old, _read(settings.bake_path.parent, stage.dockerfile))

    def own_keywords(self, stage: Stage) -> list[str] | None:
        """The keywords of the release's own instructions (the working tree's when the
        merge base has no such Dockerfile), or None when there is no text."""
        text = self.old if self.old is not None else self.new
        if text is None:
            return None
        target = stage.definition.get("target")
        return [item.keyword for item in invalidation.own_instructions(text, target)]


def _own_layer_indexes(release: Image, keywords: list[str] | None) -> list[tuple[int, int]] | None:
    """(own instruction index, layer index) for each own instruction that made a layer,
    when the release's history ends with one entry per own instruction, each of the same
    kind; None otherwise (another Dockerfile made the release, or ONBUILD triggers ran)."""
    history = release.history
    if keywords is None or len(keywords) > len(history):
        return None
    if sum(made for _, made in history) != len(release.layers):
        return None
    first_own = len(history) - len(keywords)
    own = history[first_own:]
    if any(_keyword(by) != keyword for (by, _), keyword in zip(own, keywords, strict=True)):
        return None
    pairs = []
    layer = sum(made for _, made in history[:first_own])
    for at, (_, made) in enumerate(own):
        if made:
            pairs.append((at, layer))
            layer += 1
    return pairs


def _keyword(created_by: str) -> str:
    """The instruction a history entry records: BuildKit writes `RUN |2 A=1 ... /bin/sh -c
    ...`, the classic builder `/bin/sh -c ...` for RUN and `#(nop) ENV ...` for others."""
    text = layers.instruction(created_by)
    word = text.split(maxsplit=1)[0] if text.split() else ""
    return "RUN" if word.startswith(("/bin/sh", "|")) else word.upper()


def _target_difference(old: Stage, new: Stage, source: str) -> str | None:
    """Why every own instruction runs again when the bake target changed in more than its
    build args (a context, a Dockerfile, a target): None when only args changed."""
    before = {k: v for k, v in old.comparable().items() if k != "args"}
    after = {k: v for k, v in new.comparable().items() if k != "args"}
    return None if before == after else f"{source} (target changed)"


def _changed_args(old: Stage, new: Stage) -> list[str]:
    before, after = old.comparable().get("args", {}), new.comparable().get("args", {})
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _repository_path(offset: str, path: str) -> str:
    return posixpath.join(offset, path) if offset else path


def _read(folder: Path, relative: str) -> str | None:
    try:
        return (folder / relative).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
