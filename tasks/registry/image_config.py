"""What an upstream image sets for the instructions built on it: Config.Shell, Config.User
and Config.Env, from the local engine when the image is there, else from its registry
(its manifests, read as plan --estimate reads them, and the config blob: small documents;
no layer is pulled).

A registry's config is cached by its manifest's digest (what a digest names never
changes), so a pinned upstream is read once per machine. Nothing here fails a run: an
image that can be read from neither place is None, with the reason, for the caller to say.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from tasks.console import ZoneError
from tasks.docker import engine
from tasks.pinning import fetch
from tasks.registry import config_blob, layers
from tasks.settings import Settings
from tasks.shared import files
from tasks.stack.references import ImageRef, is_image

CACHE_ENV = "ZONE_IMAGE_CONFIG_CACHE"  # the cache folder (tests give each run its own)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    ref: str
    shell: tuple[str, ...]  # Config.Shell; () when the image sets none (/bin/sh -c)
    user: str  # Config.User; '' when unset (root)
    env: tuple[tuple[str, str], ...]  # Config.Env, in order
    source: str  # where it was read: "the local engine" or "its registry"


@dataclasses.dataclass(frozen=True)
class Unread:
    """Why an image's config could not be read."""

    ref: str
    reason: str


def cache_folder() -> Path:
    return files.cache_folder("image-config", CACHE_ENV)


def read(ref: str, settings: Settings) -> ImageConfig | Unread:
    """The config of image `ref`: the local engine's copy first, then its registry's."""
    if not is_image(ref):
        return Unread(ref, "not an image reference")
    found = _local(ref)
    if found is not None:
        return _parsed(ref, found, "the local engine")
    # One try: lint must not wait on a registry that is down (push-backoff's waits).
    once = dataclasses.replace(settings, push_attempts=1)
    pinned = ImageRef.parse(ref).digest  # a digest in the reference: no request at all
    cached = _cached(pinned) if pinned else None
    try:
        if cached is None:
            digest = layers.platform_digest(ref, once)
            if digest is None:
                return Unread(ref, "not in the local engine, and its registry has no such tag")
            cached = _cached(digest) or _fetched(ref, digest, once)
            for key in {digest, pinned or digest}:
                _store(key, cached)
    except ZoneError as error:
        return Unread(ref, f"not in the local engine, and its registry: {error.message}")
    return _parsed(ref, cached, "its registry")


def _fetched(ref: str, digest: str, settings: Settings) -> dict:
    """The `config` part of the config blob of `ref`'s manifest `digest`. The blob comes
    whole from the registry's API: imagetools' OCI `.Image` has no Shell."""
    parsed = ImageRef.parse(ref)
    manifest = layers.manifest(str(parsed.with_digest(digest)), settings)
    config_digest = ((manifest or {}).get("config") or {}).get("digest")
    if not isinstance(config_digest, str):
        raise ZoneError(f"it names {digest} but serves no manifest with a config")
    try:
        document = json.loads(config_blob.blob(parsed, config_digest))
    except fetch.Unanswered as error:
        raise ZoneError(f"its config blob: {error}") from None
    except ValueError:
        raise ZoneError(f"its config blob {config_digest} is not JSON") from None
    config = document.get("config") if isinstance(document, dict) else None
    return config if isinstance(config, dict) else {}


def _local(ref: str) -> dict | None:
    """The engine's Config of `ref`; None when the engine is unreachable or lacks it."""
    import docker.errors

    try:
        attrs = engine.client().images.get(ref).attrs
    except (ZoneError, docker.errors.DockerException):
        return None
    config = attrs.get("Config")
    return config if isinstance(config, dict) else {}


def _parsed(ref: str, config: dict, source: str) -> ImageConfig | Unread:
    """The three fields, checked for shape (a registry's answer is not trusted blindly)."""
    shell = config.get("Shell") or []
    user = config.get("User") or ""
    env = config.get("Env") or []
    if not (
        isinstance(shell, list)
        and all(isinstance(word, str) for word in shell)
        and isinstance(user, str)
        and isinstance(env, list)
        and all(isinstance(item, str) for item in env)
    ):
        return Unread(ref, f"{source} gave a config of an unexpected shape")
    pairs = tuple((key, value) for key, _, value in (item.partition("=") for item in env))
    return ImageConfig(ref, tuple(shell), user, pairs, source)


def _cached(digest: str) -> dict | None:
    if not _DIGEST.fullmatch(digest):
        return None
    try:
        loaded = json.loads((cache_folder() / f"{digest}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _store(digest: str, config: dict) -> None:
    """Best effort: a cache that cannot be written costs one more request next time."""
    if not _DIGEST.fullmatch(digest):
        return
    folder = cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files.write_whole(folder / f"{digest}.json", json.dumps(config))
    except OSError:
        return
