"""An image's layers: from a registry's manifest and config (no layer is pulled), or from
the local engine (diff_ids, and `docker history` for sizes and instructions).

A layer is known by its diff_id (the digest of its uncompressed tar), which the local
engine and a registry's image config both give; the registry's manifest adds the
compressed digest and size that a node pulls.
"""

from __future__ import annotations

import dataclasses
import json
from typing import cast

from tasks import engine
from tasks.console import ZoneError
from tasks.cost import total
from tasks.references import ImageRef
from tasks.retry import classify
from tasks.settings import Settings

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
PLATFORM = ("linux", "amd64")  # the platform the images are served for


@dataclasses.dataclass(frozen=True)
class Layer:
    diff_id: str
    instruction: str  # the Dockerfile instruction that made it ('' when unknown)
    compressed: int | None = None  # bytes a node pulls, from a registry manifest
    uncompressed: int | None = None  # bytes on disk, from the local engine
    blob: str = ""  # the compressed layer's digest, from a registry manifest


@dataclasses.dataclass(frozen=True)
class Image:
    ref: str
    digest: str  # the manifest digest (registry) or image ID (local engine)
    config_digest: str  # what SBOMs are cached by ('' for a local image)
    layers: tuple[Layer, ...]
    # The config's history: (created_by, made a layer) per instruction, oldest first;
    # () from the local engine.
    history: tuple[tuple[str, bool], ...] = ()
    # What the tag names in the registry (an index's digest, for an index): what `push`
    # signs and attests. '' from the local engine.
    tag_digest: str = ""

    @property
    def compressed(self) -> int | None:
        return total(layer.compressed for layer in self.layers)

    @property
    def uncompressed(self) -> int | None:
        return total(layer.uncompressed for layer in self.layers)


def _raw(ref: str, template: str | None = None) -> dict | None:
    """imagetools' JSON for `ref` (the raw manifest, or a --format template's); None when
    the registry has no such tag. Any other failure raises retry.classify's error."""
    args = ["--format", template] if template else ["--raw"]
    result = engine.imagetools("inspect", *args, ref)
    if result.returncode == 0:
        return json.loads(result.stdout)
    last = engine.last_line(result)
    if last.endswith(f"{ref}: not found") or "manifest unknown" in last:
        return None
    raise classify(last, ImageRef.parse(ref).host)


def _look(target: str, settings: Settings, template: str | None = None) -> dict | None:
    return engine.with_registry_retries(
        lambda: _raw(target, template),
        f"reading {target}",
        target,
        settings.push_attempts,
        settings.push_backoff,
    )


def remote(ref: str, settings: Settings) -> Image | None:
    """The image at `ref` in its registry (the linux/amd64 one of an index): manifests and
    config only. None when the registry has no such tag or digest."""

    # The descriptor of what the tag names (with the entries of an index), then the
    # linux/amd64 manifest itself, then its config: three small documents, no layer.
    top = _look(ref, settings, "{{json .Manifest}}")
    if top is None:
        return None
    digest = tag_digest = top["digest"]
    if top.get("mediaType") in _INDEX_TYPES or "manifests" in top:
        digest = _platform_manifest(ref, top)["digest"]
    exact = str(ImageRef.parse(ref).with_digest(digest))
    manifest = _look(exact, settings)
    config = _look(exact, settings, "{{json .Image}}")
    if manifest is None or config is None:
        raise ZoneError(f"{ref}: the registry names {digest} but does not serve it")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    sizes = manifest.get("layers") or []
    if len(diff_ids) != len(sizes):
        raise ZoneError(
            f"{ref}: its manifest has {len(sizes)} layers but its config {len(diff_ids)}",
            hint="the image in the registry is malformed; push it again",
        )
    history = tuple(
        (entry.get("created_by") or "", not entry.get("empty_layer"))
        for entry in config.get("history") or []
    )
    made_by = [by for by, made in history if made]
    if len(made_by) != len(diff_ids):
        made_by = [""] * len(diff_ids)  # a history that does not match: no instructions
    layers = tuple(
        Layer(
            diff_id,
            instruction(by),
            compressed=int(layer["size"]),
            blob=layer.get("digest", ""),
        )
        for diff_id, layer, by in zip(diff_ids, sizes, made_by, strict=True)
    )
    config_digest = (manifest.get("config") or {}).get("digest", "")
    return Image(ref, digest, config_digest, layers, history, tag_digest)


def platform_digest(ref: str, settings: Settings) -> str | None:
    """The digest of the linux/amd64 manifest that `ref` names (through an index, when it
    names one); None when the registry has no such tag. One small document."""
    top = _look(ref, settings, "{{json .Manifest}}")
    if top is None:
        return None
    if top.get("mediaType") in _INDEX_TYPES or "manifests" in top:
        return str(_platform_manifest(ref, top)["digest"])
    return str(top["digest"])


def manifest(exact: str, settings: Settings) -> dict | None:
    """The manifest of `exact`, a name@digest of one platform's image: its config's and
    layers' descriptors."""
    return _look(exact, settings)


def build_cache(ref: str, settings: Settings) -> dict[str, Layer]:
    """The layers of a BuildKit registry cache (bake --registry-cache) by diff_id: its index
    lists each compressed layer with its diff_id (annotation containerd.io/uncompressed),
    so a layer built but not pushed yet has its compressed size. {} when there is none."""
    index = _look(ref, settings) or {}
    found = {}
    for entry in index.get("manifests") or []:
        diff_id = (entry.get("annotations") or {}).get("containerd.io/uncompressed")
        if diff_id and "size" in entry:
            found[diff_id] = Layer(diff_id, "", int(entry["size"]), blob=entry.get("digest", ""))
    return found


def _platform_manifest(ref: str, index: dict) -> dict:
    images = [
        entry
        for entry in index.get("manifests") or []
        if (entry.get("platform") or {}).get("os") not in (None, "unknown")
    ]
    for entry in images:
        platform = entry.get("platform") or {}
        if (platform.get("os"), platform.get("architecture")) == PLATFORM:
            return entry
    if len(images) == 1:
        return images[0]
    raise ZoneError(f"{ref} has no {'/'.join(PLATFORM)} image", hint="push a linux/amd64 build")


def local(ref: str) -> Image:
    """The image at `ref` in the local engine (the caller checked it is there)."""
    client = engine.client()
    image = client.images.get(ref)
    diff_ids = (image.attrs.get("RootFS") or {}).get("Layers") or []
    # `docker history` lists the config's history newest first; an entry that made no
    # layer (ENV, CMD, ...) has size 0. Matched to layers only when the counts agree.
    history = list(reversed(client.api.history(ref)))
    made = [entry for entry in history if entry.get("Size")]
    if len(made) != len(diff_ids):
        made = history if len(history) == len(diff_ids) else []
    layers = tuple(
        Layer(
            diff_id,
            instruction(made[i].get("CreatedBy", "")) if made else "",
            uncompressed=int(made[i].get("Size") or 0) if made else None,
        )
        for i, diff_id in enumerate(diff_ids)
    )
    return Image(ref, cast(str, image.id), "", layers)  # an engine's image always has an id


def instruction(created_by: str) -> str:
    """The Dockerfile instruction as a person wrote it, without BuildKit's decorations."""
    text = created_by.removesuffix(" # buildkit").strip()
    text = text.replace("/bin/sh -c #(nop) ", "").replace("RUN /bin/sh -c ", "RUN ")
    return text  # '' for an imported rootfs (no instruction made it)
