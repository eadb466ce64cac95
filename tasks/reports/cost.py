"""What an image costs the nodes that pull it, compared with the release they hold.

A node that holds the release pulls only the layers it lacks. A layer is shared when the
release has it: same diff_id, and the same compressed blob when both are in a registry
(a layer compressed anew is a new blob, and a node pulls it again). Compressed sizes come
from registry manifests; a layer of this commit's image that no registry holds yet has
only its uncompressed size from the local engine, and its figures say "estimated".
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tasks.registry.sbom import Diff
from tasks.reports import charts
from tasks.shared.sizes import size, total

TableSpec = tuple[str, list[str], list[tuple[object, ...]], bool]  # title, columns, rows, collapsed

if TYPE_CHECKING:  # the layers module loads the docker SDK
    from tasks.registry.layers import Image, Layer


SHARED, NEW = "shared", "new"
# Where a compressed size comes from: this image's manifest in the registry, the stage's
# registry build cache (the blob its push sends), or the release's manifest.
IMAGE, CACHE, RELEASE = "image", "build cache", "release"


@dataclasses.dataclass(frozen=True)
class LayerCost:
    diff_id: str
    instruction: str
    status: str  # SHARED or NEW
    compressed: int | None  # from a registry manifest; None when no registry has it
    uncompressed: int | None  # from the local engine
    origin: str = ""  # "parent" (its parent stage's image has it) or "own"; '' unknown
    size_from: str = ""  # where `compressed` was read: IMAGE, CACHE or RELEASE; '' none

    @property
    def pull_bytes(self) -> int:
        """What a node pulls for it: compressed when known, else the uncompressed size."""
        return self.compressed if self.compressed is not None else self.uncompressed or 0

    @property
    def estimated(self) -> bool:
        return self.compressed is None

    @property
    def made_by(self) -> str:
        """Its instruction, or what it is when no instruction is known."""
        return self.instruction or f"layer {self.diff_id[7:19]} (no instruction recorded)"


@dataclasses.dataclass(frozen=True)
class Cost:
    stage: str
    ref: str
    against: str
    release: Image | None  # None: no release yet (first release)
    layers: tuple[LayerCost, ...]
    budget: int | None = None
    packages: Diff | None = None

    @property
    def new_layers(self) -> list[LayerCost]:
        return [layer for layer in self.layers if layer.status == NEW]

    @property
    def new_bytes(self) -> int:
        """Bytes a node holding the release pulls for this image."""
        return sum(layer.pull_bytes for layer in self.new_layers)

    @property
    def estimated(self) -> bool:
        return any(layer.estimated for layer in self.new_layers)

    @property
    def compressed(self) -> int | None:
        return total(layer.compressed for layer in self.layers)

    @property
    def uncompressed(self) -> int | None:
        return total(layer.uncompressed for layer in self.layers)

    @property
    def over_budget(self) -> bool:
        """Over its budget; never for a first release (nothing to compare with)."""
        return self.release is not None and self.budget is not None and self.new_bytes > self.budget

    def largest_new(self, count: int) -> list[LayerCost]:
        return sorted(self.new_layers, key=lambda layer: -layer.pull_bytes)[:count]

    def to_json(self) -> dict:
        release = self.release
        return {
            "image": self.stage,
            "ref": self.ref,
            "against": self.against,
            "first_release": release is None,
            "new_pull_bytes": self.new_bytes,
            "new_pull_bytes_estimated": self.estimated,
            "compressed_bytes": self.compressed,
            "uncompressed_bytes": self.uncompressed,
            "release": None
            if release is None
            else {
                "digest": release.digest,
                "compressed_bytes": release.compressed,
                "layers": len(release.layers),
            },
            "budget_bytes": self.budget,
            "over_budget": self.over_budget,
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
            "packages": None if self.packages is None else _packages_json(self.packages),
        }


def _packages_json(found: Diff) -> dict:
    def one(package: object) -> dict:
        return dataclasses.asdict(package)  # type: ignore[call-overload]

    return {
        "added": [one(p) for p in found.added],
        "removed": [one(p) for p in found.removed],
        "changed": [
            {"kind": a.kind, "name": a.name, "before": a.version, "after": b.version}
            for a, b in found.changed
        ],
    }


def compare(
    image: Image,
    pushed: Image | None,
    cached: dict[str, Layer],
    release: Image | None,
    parent_layers: tuple[str, ...] | None,
) -> tuple[LayerCost, ...]:
    """Each layer of `image` (the local one): shared with `release` or new, its compressed
    size from `pushed` (the same image in the registry), the build cache or the release,
    and its origin (its parent stage's image has it, or it is its own)."""
    in_image = {layer.diff_id: layer for layer in pushed.layers} if pushed else {}
    released = {layer.diff_id: layer for layer in release.layers} if release else {}
    result = []
    for position, layer in enumerate(image.layers):
        mine, where = in_image.get(layer.diff_id), IMAGE
        if mine is None:
            mine, where = cached.get(layer.diff_id), CACHE
        before = released.get(layer.diff_id)
        # A layer compressed anew is another blob: a node pulls it again.
        shared = before is not None and (mine is None or not mine.blob or mine.blob == before.blob)
        known, where = (before, RELEASE) if shared else (mine, where)
        if parent_layers is None:
            origin = ""
        else:
            inherited = parent_layers[position : position + 1] == (layer.diff_id,)
            origin = "parent" if inherited else "own"
        result.append(
            LayerCost(
                layer.diff_id,
                layer.instruction or (known.instruction if known else ""),
                SHARED if shared else NEW,
                known.compressed if known else None,
                layer.uncompressed,
                origin,
                where if known else "",
            )
        )
    return tuple(result)


def layer_size(layer: LayerCost) -> str:
    if layer.estimated:
        return f"{size(layer.pull_bytes)} (uncompressed)"
    return size(layer.pull_bytes) + (" (build cache)" if layer.size_from == CACHE else "")


def layer_bars(found: Cost, top: int) -> list[charts.Bar]:
    """Its largest new layers by what a node pulls for each (in `largest_new`'s order),
    then the other new layers as one bar."""
    return charts.bars([(layer.made_by, layer.pull_bytes) for layer in found.new_layers], top)


def chart(found: Cost, top: int) -> str:
    """The Mermaid chart of its largest new layers ('' when it has no new byte)."""
    estimated = " (estimated)" if found.estimated else ""
    title = f"{found.stage}: {size(found.new_bytes)} new to pull{estimated}"
    return charts.mermaid(title, layer_bars(found, top))


def package_rows(diff: Diff) -> list[tuple[str, str, str]]:
    """(type, "name version", change) for each package added, removed or changed."""
    rows = [(p.kind, f"{p.name} {p.version}", "added") for p in diff.added]
    rows += [(p.kind, f"{p.name} {p.version}", "removed") for p in diff.removed]
    rows += [(a.kind, f"{a.name} {a.version} -> {b.version}", "changed") for a, b in diff.changed]
    return rows


def report_tables(results: list[Cost], top: int) -> list[TableSpec]:
    """The Markdown tables of a cost report (job summary, release notes): one row an image,
    then each image's largest new layers and its package changes (folded)."""

    def sizes(found: Cost) -> str:
        if found.uncompressed is None:
            return f"{size(found.compressed)} compressed"
        return f"{size(found.compressed)} compressed, {size(found.uncompressed)} uncompressed"

    specs: list[TableSpec] = [
        (
            "Pull cost (against the release)",
            ["image", "new to pull", "size", "release", "layers new / shared", "budget"],
            [
                (
                    found.stage,
                    size(found.new_bytes) + (" (estimated)" if found.estimated else ""),
                    sizes(found),
                    "none yet (first release)"
                    if found.release is None
                    else f"{size(found.release.compressed)} compressed",
                    f"{len(found.new_layers)} / {len(found.layers) - len(found.new_layers)}",
                    "none"
                    if found.budget is None
                    else f"{size(found.budget)} ({'OVER' if found.over_budget else 'within'})",
                )
                for found in results
            ],
            False,
        )
    ]
    for found in results:
        specs.append(
            (
                f"{found.stage}: largest new layers",
                ["size", "instruction"],
                [(layer_size(layer), layer.made_by) for layer in found.largest_new(top)],
                False,
            )
        )
        if found.packages is not None:
            specs.append(
                (
                    f"{found.stage}: package changes",
                    ["change", "type", "package"],
                    [(change, kind, name) for kind, name, change in package_rows(found.packages)],
                    True,
                )
            )
    return specs
