"""The tests' own clean-up (support.remove_images): every tag under a run's prefix, at any
depth, goes; nothing else does. A tag it missed stays on the engine for good, and every
later image deletion pays for it (containerd's garbage collection walks them all)."""

from __future__ import annotations

import io
import uuid

import docker

from tasks.tests.support import remove_images


def _tags(engine: docker.DockerClient, prefix: str) -> set[str]:
    found = set()
    for depth in (1, 2, 3):
        for image in engine.api.images(filters={"reference": prefix + "/*" * depth}):
            found |= set(image.get("RepoTags") or [])
    return found


def test_every_tag_under_the_prefix_goes_at_any_depth_and_nothing_else(
    engine: docker.DockerClient, upstream: str
) -> None:
    prefix = f"localhost:5000/zc{uuid.uuid4().hex[:6]}"
    beside = f"{prefix}x"  # starts like the prefix: not under it
    for tags in ([f"{prefix}/a:1", f"{prefix}/a:2"], [f"{prefix}/deep/b:1", f"{beside}/c:1"]):
        dockerfile = f"FROM {upstream}\nRUN echo {uuid.uuid4().hex} > /made\n"
        image, _ = engine.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tags[0], rm=True
        )
        for tag in tags[1:]:
            image.tag(tag)
    engine.images.get(upstream).tag(f"{prefix}/up:1")  # an image that keeps another name
    try:
        remove_images(engine, prefix)
        assert _tags(engine, prefix) == set()
        assert _tags(engine, beside) == {f"{beside}/c:1"}
        assert upstream in engine.images.get(upstream).tags
    finally:
        remove_images(engine, beside)
    assert _tags(engine, beside) == set()
