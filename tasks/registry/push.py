"""Every tag of an image to its registry, immutable tags first, moving last: the work of
`nox -s push` (its flags: tasks/commands/push.py).

The order is the safety rule: a push that fails part-way has pushed the SHA tags (which
name exactly this build) and never moved `v2` or `latest` onto an image whose SHA tag is
missing. Credentials are the engine's own login; nothing here reads or prints them.

A SHA tag names one build of one commit: a push never overwrites a SHA tag that the
registry serves as another image, and an image built from a dirty tree or from inputs
its commit does not pin (its revision label is not a commit: `-dirty`, `-custom`,
`-nosas`) goes up only with --allow-dirty, never in CI, and never under a SHA or release
tag.
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
from rich.table import Table

from tasks.console import FAILURE, ZoneError, err, note, out, warn
from tasks.docker import engine
from tasks.planning import tags
from tasks.planning.tags import Group
from tasks.registry import sbom, signing
from tasks.registry.published import Published, show
from tasks.settings import Settings
from tasks.shared import progress
from tasks.shared.retry import Transient, classify, with_retries
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef, is_image

# The engine reports the pushed manifest as "TAG: digest: sha256:... size: N".
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclasses.dataclass(frozen=True)
class Local:
    """The local image to push: its tags under NAME, and what it was built from."""

    name: ImageRef
    tags: list[str]
    revision: str | None  # its revision label
    digests: frozenset[str]  # the registry digests the engine knows this image by
    image_id: str = ""  # the engine's ID: what its SBOM is cached by (tasks/registry/sbom.py)

    @property
    def clean(self) -> bool:
        """Built from a commit: its label is a full SHA (a dirty build's ends in -dirty)."""
        return bool(self.revision and tags.FULL_SHA.fullmatch(self.revision))


def local_image(
    client: docker.DockerClient, name: ImageRef, anchors: list[str], stage: str
) -> Local:
    """The image that the first of NAME:ANCHOR that exists is, with every local tag of it.
    Tags of NAME on other images (older builds) are not this image's and stay local."""
    ref = name.with_tag(anchors[0])
    for anchor in anchors:
        try:
            image = client.images.get(str(name.with_tag(anchor)))
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
    # The engine names Docker Hub images as docker shows them (docker.io/org/x: org/x).
    named = [*image.tags, *(image.attrs.get("RepoDigests") or [])]
    ours = [
        found
        for found in map(ImageRef.parse, filter(is_image, named))  # no "<none>@<none>"
        if found.familiar_name == name.familiar_name
    ]
    mine = [found.tag for found in ours if found.tag]
    known = {found.digest for found in ours if found.digest}
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


def _dirty(
    images: dict[ImageRef, Local], allow_dirty: bool, settings: Settings
) -> dict[ImageRef, Local]:
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
        kept = tags.dirty_build_tags(image.tags, settings)
        if dropped := [t for t in image.tags if t not in kept]:
            warn(f"{image.name} is a dirty build: not pushed under {', '.join(dropped)}")
        images[image.name] = dataclasses.replace(image, tags=kept)
    return images


def _never_overwrite(
    images: dict[ImageRef, Local], plan: dict[ImageRef, list[str]], settings: Settings
) -> None:
    """A SHA tag the registry already serves as another image stays as it is: refuse the
    whole push before anything goes up."""
    taken = []
    for name, image in images.items():
        for tag_name in (t for t in plan[name] if tags.group(t, settings) == Group.IMMUTABLE):
            ref = str(name.with_tag(tag_name))
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


def _push_once(
    client: docker.DockerClient, name: ImageRef, tag: str, display: progress.Display
) -> str:
    """Push NAME:TAG once; its digest. The engine reports most registry failures inside a
    stream that is HTTP 200, which the SDK does not raise for: read every message. The
    same messages say how far each layer is: the display shows it."""
    registry = name.host
    digest = None
    transfer = display.transfer(f"{name.path.rsplit('/', 1)[-1]}:{tag}", "sent")
    try:
        for message in client.api.push(name.name, tag=tag, stream=True, decode=True):
            transfer.feed(message)
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
    transfer.finish()
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
    quiet: bool = False,
) -> int:
    if allow_dirty and _in_ci():
        raise ZoneError(
            "--allow-dirty is refused in CI (CI is set): CI pushes only images of a commit",
            hint="commit the changes; or, off CI, push a dirty build with --allow-dirty",
        )
    stages = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    # A dirty tree's bake tagged <sha8>-dirty (a custom build's <sha8>-custom, ...); an
    # image baked before the edits: the SHA.
    own_tag = revision.own_tag
    anchors = [tag] if tag else [t for t in (own_tag, revision.sha or revision.branch) if t]
    client = engine.client()
    found = {}
    stage_of = {}
    for stage in stages:
        name = tags.image_name(settings.registry, stage)
        found[name] = local_image(client, name, anchors, stage)
        stage_of[name] = stage
    found = _dirty(found, allow_dirty, settings)
    plan = {name: tags.push_order(image.tags, settings) for name, image in found.items()}
    if dry_run:
        _show_plan(plan)
        out("\n".join(str(ref) for ref in _refs(plan)))
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
    pushed: list[Published] = []
    try:
        with progress.Display(quiet) as display:
            _push_all(client, plan, found, stage_of, identity, settings, display, pushed)
    except KeyboardInterrupt:
        # As every failure does: say what went up (the display has closed by now).
        note(f"interrupted: pushed before it: {', '.join(str(p.ref) for p in pushed) or 'none'}")
        raise
    _verify(pushed, settings)
    show(pushed, "Pushed (the registry serves these digests)", summary_title="Pushed")
    return 0


def _push_all(
    client: docker.DockerClient,
    plan: dict[ImageRef, list[str]],
    found: dict[ImageRef, Local],
    stage_of: dict[ImageRef, str],
    identity: signing.Identity,
    settings: Settings,
    display: progress.Display,
    pushed: list[Published],
) -> None:
    """Every tag of the plan, in order, each appended to `pushed` once the registry has it."""
    for name, tag_names in plan.items():
        for position, tag_name in enumerate(tag_names):
            ref = name.with_tag(tag_name)
            note(f"pushing {ref}")
            try:
                digest = with_retries(
                    lambda: _push_once(client, name, tag_name, display),  # noqa: B023 - at once
                    f"pushing {ref}",
                    settings.push_attempts,
                    settings.push_backoff,
                )
            except ZoneError as error:
                display.close()  # the table below the bars, not inside them
                show(pushed, "Pushed before the failure")
                raise _unfinished(error, pushed, plan, name, tag_names[position:]) from None
            pushed.append(Published(ref, digest))
            if position == 0 and identity.can_sign:
                # Signed before any other tag goes up: no moving tag names an unsigned image.
                try:
                    _sign(str(name.with_digest(digest)), stage_of[name], found[name], identity)
                except ZoneError as error:
                    display.close()
                    show(pushed, "Pushed before the failure (unsigned)")
                    raise _unfinished(error, pushed, plan, name, tag_names[1:]) from None


def _refs(plan: dict[ImageRef, list[str]]) -> list[ImageRef]:
    return [name.with_tag(tag_name) for name, tag_names in plan.items() for tag_name in tag_names]


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
    document = sbom.spdx_document(f"docker:{image.name.with_tag(image.tags[0])}", image.image_id)
    note(f"attaching its SBOM ({document.stat().st_size} bytes of SPDX JSON)")
    signing.attest_sbom(reference, identity, document)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unfinished(
    error: ZoneError,
    pushed: list[Published],
    plan: dict[ImageRef, list[str]],
    name: ImageRef,
    left: list[str],
) -> ZoneError:
    """The push's error, saying what went up and what did not: claim nothing unpushed."""
    later = list(plan)[list(plan).index(name) + 1 :]
    not_pushed = [str(name.with_tag(t)) for t in left] + [f"{n} (every tag)" for n in later]
    lines = [f"pushed: {', '.join(str(p.ref) for p in pushed) or 'nothing'}"]
    lines.append(f"not pushed: {', '.join(not_pushed)}")
    lines.append("moving tags go last, so none of them was moved onto a partly pushed image")
    hint = "\n".join(filter(None, [error.hint, *lines]))
    return ZoneError(error.message, hint=hint, exit_code=FAILURE)


def _verify(pushed: list[Published], settings: Settings) -> None:
    """The registry serves, for every pushed tag, the digest its push reported, and every
    tag of one image has one digest."""
    by_name: dict[str, set[str]] = {}
    for item in pushed:
        served = with_retries(
            lambda: engine.registry_digest(str(item.ref)),  # noqa: B023 - called at once
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
        by_name.setdefault(item.ref.name, set()).add(served)
    for name, digests in by_name.items():
        if len(digests) > 1:
            raise ZoneError(
                f"the tags of {name} pushed as more than one image: {', '.join(sorted(digests))}",
                exit_code=FAILURE,
            )


def _show_plan(plan: dict[ImageRef, list[str]]) -> None:
    table = Table(title="Would push, in this order (dry run)")
    table.add_column("#")
    table.add_column("image")
    for position, ref in enumerate(_refs(plan)):
        table.add_row(str(position + 1), str(ref))
    err.print(table)
