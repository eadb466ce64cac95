"""`nox -s push`: every tag of an image to its registry, immutable tags first, moving last.

The order is the safety rule: a push that fails part-way has pushed the SHA tags (which
name exactly this build) and never moved `v2` or `latest` onto an image whose SHA tag is
missing. Credentials are the engine's own login; nothing here reads or prints them.

A SHA tag names one build of one commit: a push never overwrites a SHA tag that the
registry serves as another image, and an image built from a dirty tree (its revision
label is not a commit) goes up only with --allow-dirty, never in CI, and never under a
SHA or release tag.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from typing import cast

import docker
import docker.errors
import requests.exceptions
from rich.console import Console
from rich.table import Table

from tasks import engine, sbom, signing, summary, tags
from tasks.bakefile import BakeGraph
from tasks.console import FAILURE, ZoneError, err, note, out, warn
from tasks.retry import Transient, classify, with_retries
from tasks.settings import Settings

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(f"[0-9a-f]{{{tags.SHORT_SHA_LENGTH}}}")
# The engine reports the pushed manifest as "TAG: digest: sha256:... size: N".
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclasses.dataclass(frozen=True)
class Pushed:
    ref: str
    digest: str


IMMUTABLE, BRANCH, MOVING = 0, 1, 2  # push groups, in push order


def group(tag: str, settings: Settings) -> int:
    """IMMUTABLE (full or short SHA), MOVING (the version tag, latest) or BRANCH (the
    rest: branch and extra tags)."""
    if _FULL_SHA.fullmatch(tag) or _SHORT_SHA.fullmatch(tag):
        return IMMUTABLE
    return MOVING if tag in (settings.version_tag, "latest") else BRANCH


def order(tag_names: list[str], settings: Settings) -> list[str]:
    """Push order: immutable tags (full SHA before short), then branch and extra tags,
    then the moving ones (the version tag before latest) last."""
    moving = [settings.version_tag, "latest"]

    def rank(tag: str) -> tuple[int, int]:
        within = -len(tag) if group(tag, settings) == IMMUTABLE else 0
        return (group(tag, settings), moving.index(tag) if tag in moving else within)

    return sorted(tag_names, key=rank)


@dataclasses.dataclass(frozen=True)
class Local:
    """The local image to push: its tags under NAME, and what it was built from."""

    name: str
    tags: list[str]
    revision: str | None  # its revision label
    digests: frozenset[str]  # the registry digests the engine knows this image by
    image_id: str = ""  # the engine's ID: what its SBOM is cached by (tasks/sbom.py)

    @property
    def clean(self) -> bool:
        """Built from a commit: its label is a full SHA (a dirty build's ends in -dirty)."""
        return bool(self.revision and tags.FULL_SHA.fullmatch(self.revision))


def local_image(client: docker.DockerClient, name: str, anchors: list[str], stage: str) -> Local:
    """The image that the first of NAME:ANCHOR that exists is, with every local tag of it.
    Tags of NAME on other images (older builds) are not this image's and stay local."""
    ref = f"{name}:{anchors[0]}"
    for anchor in anchors:
        try:
            image = client.images.get(f"{name}:{anchor}")
            break
        except docker.errors.ImageNotFound:
            continue
        except docker.errors.APIError as exc:
            raise ZoneError(f"cannot look up {ref}: {exc.explanation or exc}") from None
    else:
        raise ZoneError(
            f"{ref} is not in the local Docker engine: nothing to push",
            hint=f"build it first: nox -s bake -- {stage}  (same --repo), or name the tag "
            "to push with --tag",
        )
    # The engine names Docker Hub images without their registry (docker.io/org/x: org/x).
    mine = [
        t.rsplit(":", 1)[1] for t in image.tags if _familiar(t.rsplit(":", 1)[0]) == _familiar(name)
    ]
    known = {
        d.split("@", 1)[1]
        for d in image.attrs.get("RepoDigests") or []
        if _familiar(d.split("@", 1)[0]) == _familiar(name)
    }
    image_id = cast(str, image.id)  # an image the engine listed always has one
    return Local(
        name,
        mine or [anchor],
        (image.labels or {}).get(engine.REVISION_LABEL),
        frozenset({*known, image_id}),  # the containerd store's IDs are manifest digests
        image_id,
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _dirty(images: dict[str, Local], allow_dirty: bool, settings: Settings) -> dict[str, Local]:
    """Refuse images not built from a commit unless allowed; allowed, they keep only the
    tags that claim no commit (no SHA tag, no release tag)."""
    dirty = [image for image in images.values() if not image.clean]
    if dirty and not allow_dirty:
        built = "; ".join(
            f"{image.name} (revision {image.revision or 'none: built outside git'})"
            for image in dirty
        )
        raise ZoneError(
            f"not built from a commit, so not pushed: {built}",
            hint="commit your changes and bake again (the image then gets this commit's SHA "
            "tags), or push this build as it is with --allow-dirty (refused in CI)",
        )
    for image in dirty:
        kept = [t for t in image.tags if group(t, settings) == BRANCH]
        if dropped := [t for t in image.tags if t not in kept]:
            warn(f"{image.name} is a dirty build: not pushed under {', '.join(dropped)}")
        images[image.name] = dataclasses.replace(image, tags=kept)
    return images


def _never_overwrite(
    images: dict[str, Local], plan: dict[str, list[str]], settings: Settings
) -> None:
    """A SHA tag the registry already serves as another image stays as it is: refuse the
    whole push before anything goes up."""
    taken = []
    for name, image in images.items():
        for tag_name in (t for t in plan[name] if group(t, settings) == IMMUTABLE):
            ref = f"{name}:{tag_name}"
            served = engine.with_registry_retries(
                lambda: engine.registry_digest(ref),  # noqa: B023 - called at once
                f"looking up {ref}",
                ref,
                settings.push_attempts,
                settings.push_backoff,
            )
            if served is not None and served not in image.digests:
                taken.append(f"{ref} ({served})")
    if taken:
        raise ZoneError(
            f"the registry already serves another image under {', '.join(taken)}: a SHA tag "
            "names one build of its commit and is never overwritten, so nothing was pushed",
            hint="that commit's image is published already: use it (docker pull, or bake "
            "--changed reuses it); to publish another build, commit and bake again (a new SHA); "
            "if the registry's image is wrong, delete its SHA tags in the registry first",
            exit_code=FAILURE,
        )


def _familiar(name: str) -> str:
    for prefix in ("docker.io/", "index.docker.io/"):
        name = name.removeprefix(prefix)
    return name.removeprefix("library/")


def _push_once(client: docker.DockerClient, name: str, tag: str) -> str:
    """Push NAME:TAG once; its digest. The engine reports most registry failures inside a
    stream that is HTTP 200, which the SDK does not raise for: read every message."""
    registry = tags.registry_host(name)
    digest = None
    try:
        for message in client.api.push(name, tag=tag, stream=True, decode=True):
            failure = message.get("error") or message.get("errorDetail", {}).get("message")
            if failure:
                raise classify(failure, registry)
            found = _DIGEST.search(message.get("status", ""))
            digest = found.group(1) if found else digest
            digest = message.get("aux", {}).get("Digest", digest)
    except docker.errors.APIError as exc:
        raise classify(str(exc.explanation or exc), registry) from None
    except requests.exceptions.RequestException as exc:
        raise ZoneError(f"lost the Docker engine while pushing: {exc}", exit_code=FAILURE) from None
    if digest is None:
        raise Transient("the engine finished the push without naming a digest")
    return digest


def run(
    settings: Settings,
    graph: BakeGraph,
    images: list[str],
    *,
    tag: str | None,
    dry_run: bool,
    allow_dirty: bool = False,
    revision: tags.Revision,
) -> int:
    if allow_dirty and _in_ci():
        raise ZoneError(
            "--allow-dirty is refused in CI (CI is set): CI pushes only images of a commit",
            hint="commit the changes; or, off CI, push a dirty build with --allow-dirty",
        )
    stages = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    # A dirty tree's bake tagged <sha8>-dirty; an image baked before the edits: the SHA.
    dirty_tag = f"{revision.short_sha}{tags.DIRTY}" if revision.dirty else None
    anchors = [tag] if tag else [t for t in (dirty_tag, revision.sha or revision.branch) if t]
    client = engine.client()
    found = {}
    stage_of = {}
    for stage in stages:
        name = tags.image_refs(settings.registry, stage, ["x"])[0].rsplit(":", 1)[0]
        found[name] = local_image(client, name, anchors, stage)
        stage_of[name] = stage
    found = _dirty(found, allow_dirty, settings)
    plan = {name: order(image.tags, settings) for name, image in found.items()}
    if dry_run:
        _show_plan(plan)
        out("\n".join(f"{name}:{t}" for name, tag_names in plan.items() for t in tag_names))
        return 0
    try:
        _never_overwrite(found, plan, settings)
    except ZoneError as error:  # e.g. no login: say, as every failure does, what went up
        first = next(iter(plan))
        raise _unfinished(error, [], plan, first, plan[first]) from None
    identity = signing.identity(settings)
    if not identity.can_sign:
        warn(
            "pushing unsigned: no signing-key, and no OIDC token (GitHub Actions with "
            "id-token: write); verified reuse will not take these images"
        )
    pushed: list[Pushed] = []
    for name, tag_names in plan.items():
        for position, tag_name in enumerate(tag_names):
            ref = f"{name}:{tag_name}"
            note(f"pushing {ref}")
            try:
                digest = with_retries(
                    lambda: _push_once(client, name, tag_name),  # noqa: B023 - called at once
                    f"pushing {ref}",
                    settings.push_attempts,
                    settings.push_backoff,
                )
            except ZoneError as error:
                show_pushed(pushed, "Pushed before the failure")
                raise _unfinished(error, pushed, plan, name, tag_names[position:]) from None
            pushed.append(Pushed(ref, digest))
            if position == 0 and identity.can_sign:
                # Signed before any other tag goes up: no moving tag names an unsigned image.
                try:
                    _sign(f"{name}@{digest}", stage_of[name], found[name], identity)
                except ZoneError as error:
                    show_pushed(pushed, "Pushed before the failure (unsigned)")
                    raise _unfinished(error, pushed, plan, name, tag_names[1:]) from None
    _verify(pushed, settings)
    show_pushed(pushed, "Pushed (the registry serves these digests)")
    summary.table("Pushed", ["image", "digest"], [(p.ref, summary.Code(p.digest)) for p in pushed])
    return 0


def _sign(reference: str, stage: str, image: Local, identity: signing.Identity) -> None:
    annotations = {
        signing.ANNOTATION + "stage": stage,
        signing.ANNOTATION + "revision": image.revision or "",
        # Said by the signer, like the rest: without a transparency log no one vouches for it.
        signing.ANNOTATION + "signed-at": _now(),
    }
    note(f"signing {reference}")
    signing.sign(reference, identity, annotations)
    # The SBOM `nox -s cost` made of this image (cached by its ID), or made now.
    document = sbom.spdx_document(f"docker:{image.name}:{image.tags[0]}", image.image_id)
    note(f"attaching its SBOM ({document.stat().st_size} bytes of SPDX JSON)")
    signing.attest_sbom(reference, identity, document)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unfinished(
    error: ZoneError,
    pushed: list[Pushed],
    plan: dict[str, list[str]],
    name: str,
    left: list[str],
) -> ZoneError:
    """The push's error, saying what went up and what did not: claim nothing unpushed."""
    later = list(plan)[list(plan).index(name) + 1 :]
    not_pushed = [f"{name}:{t}" for t in left] + [f"{n} (every tag)" for n in later]
    lines = [f"pushed: {', '.join(p.ref for p in pushed) or 'nothing'}"]
    lines.append(f"not pushed: {', '.join(not_pushed)}")
    lines.append("moving tags go last, so none of them was moved onto a partly pushed image")
    hint = "\n".join(filter(None, [error.hint, *lines]))
    return ZoneError(error.message, hint=hint, exit_code=FAILURE)


def _verify(pushed: list[Pushed], settings: Settings) -> None:
    """The registry serves, for every pushed tag, the digest its push reported, and every
    tag of one image has one digest."""
    by_name: dict[str, set[str]] = {}
    for item in pushed:
        served = with_retries(
            lambda: engine.registry_digest(item.ref),  # noqa: B023 - called at once
            f"checking {item.ref} in its registry",
            settings.push_attempts,
            settings.push_backoff,
        )
        if served is None:
            raise ZoneError(
                f"the registry does not serve {item.ref} after its push", exit_code=FAILURE
            )
        if served != item.digest:
            raise ZoneError(
                f"the registry serves {served} for {item.ref}, but the push reported "
                f"{item.digest}: another push to this tag raced this one",
                exit_code=FAILURE,
            )
        by_name.setdefault(item.ref.rsplit(":", 1)[0], set()).add(served)
    for name, digests in by_name.items():
        if len(digests) > 1:
            raise ZoneError(
                f"the tags of {name} pushed as more than one image: {', '.join(sorted(digests))}",
                exit_code=FAILURE,
            )


def show_pushed(pushed: list[Pushed], title: str) -> None:
    """A table of image, tag and digest, never wrapped: logs keep every digest whole."""
    if not pushed:
        return
    table = Table(title=title, title_justify="left")
    for column in ("image", "tag", "digest"):
        table.add_column(column, no_wrap=True)
    for item in pushed:
        table.add_row(*item.ref.rsplit(":", 1), item.digest)
    # As wide as the rows need, whatever the terminal (or a CI log's 80 columns) says.
    width = max(len(item.ref) + len(item.digest) for item in pushed) + 10
    Console(stderr=True, width=max(width, err.width), highlight=False).print(table)


def _show_plan(plan: dict[str, list[str]]) -> None:
    table = Table(title="Would push, in this order (dry run)")
    table.add_column("#")
    table.add_column("image")
    for position, ref in enumerate(f"{n}:{t}" for n, ts in plan.items() for t in ts):
        table.add_row(str(position + 1), ref)
    err.print(table)
