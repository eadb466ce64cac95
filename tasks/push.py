"""`nox -s push`: every tag of an image to its registry, immutable tags first, moving last.

The order is the safety rule: a push that fails part-way has pushed the SHA tags (which
name exactly this build) and never moved `v2` or `latest` onto an image whose SHA tag is
missing. Credentials are the engine's own login; nothing here reads or prints them.
"""

from __future__ import annotations

import dataclasses
import re

import docker
import docker.errors
import requests.exceptions
from rich.console import Console
from rich.table import Table

from tasks import changes, engine, summary, tags
from tasks.bakefile import BakeGraph
from tasks.console import FAILURE, ZoneError, err, note, out
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


def local_tags(client: docker.DockerClient, name: str, anchor: str, stage: str) -> list[str]:
    """Every local tag of the image that NAME:ANCHOR is. Tags of NAME on other images
    (older builds) are not this image's and stay local."""
    ref = f"{name}:{anchor}"
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise ZoneError(
            f"{ref} is not in the local Docker engine: nothing to push",
            hint=f"build it first: nox -s bake -- {stage}  (same --repo), or name the tag "
            "to push with --tag",
        ) from None
    except docker.errors.APIError as exc:
        raise ZoneError(f"cannot look up {ref}: {exc.explanation or exc}") from None
    # The engine names Docker Hub images without their registry (docker.io/org/x: org/x).
    mine = [
        t.rsplit(":", 1)[1] for t in image.tags if _familiar(t.rsplit(":", 1)[0]) == _familiar(name)
    ]
    return mine or [anchor]


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
) -> int:
    stages = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    revision = tags.revision(changes.open_checkout(settings.root))
    anchor = tag or revision.sha or revision.branch
    client = engine.client()
    plan = {}
    for stage in stages:
        name = tags.image_refs(settings.registry, stage, ["x"])[0].rsplit(":", 1)[0]
        plan[name] = order(local_tags(client, name, anchor, stage), settings)
    if dry_run:
        _show_plan(plan)
        out("\n".join(f"{name}:{t}" for name, tag_names in plan.items() for t in tag_names))
        return 0
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
    _verify(pushed, settings)
    show_pushed(pushed, "Pushed (the registry serves these digests)")
    summary.table("Pushed", ["image", "digest"], [(p.ref, summary.Code(p.digest)) for p in pushed])
    return 0


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
