"""Which tags an image gets (branch, full and short SHA, the release branch's moving tags),
and in which order they go up: immutable first, then branch, moving last.

A SHA tag names exactly one commit's build from its pinned inputs: a build from a dirty
tree (uncommitted, staged or untracked-not-ignored changes) gets `<short sha>-dirty`
instead, and no release tags; so does a build with inputs the commit does not pin
(tasks/planning/unpinned.py), under `<short sha>-custom`, or, built without SAS alone, under
`<branch>-nosas` and `<short sha>-nosas` (never the default image's tags).

The order is the safety rule of push and retag: one that fails part-way has written the
SHA tags (which name exactly this build) and never moved `v2` or `latest` onto an image
whose SHA tag is missing.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Iterable, Mapping

from tasks.checkout.changes import Checkout
from tasks.settings import Settings
from tasks.stack.references import ImageRef

SHORT_SHA_LENGTH = 8
NO_GIT_TAG = "local"
DIRTY = "-dirty"  # the suffix of a dirty build's tag and revision label
CUSTOM = (
    "-custom"  # ... of a build with inputs its commit does not pin (tasks/planning/unpinned.py)
)
NO_SAS = "-nosas"  # ... of a build without SAS (SAS_IMAGE=), its only difference
SHOWN_DIRTY_PATHS = 3  # how many of the paths that made a tree dirty a note names
FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(f"[0-9a-f]{{{SHORT_SHA_LENGTH}}}")
LATEST = "latest"
_OUTSIDE_TAG_ALPHABET = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize(name: str) -> str:
    """A branch name made a valid Docker tag: [A-Za-z0-9._-], no leading . or -, <= 128."""
    tag = _OUTSIDE_TAG_ALPHABET.sub("-", name).lstrip(".-")[:128]
    return tag or "unnamed"


@dataclasses.dataclass(frozen=True)
class Revision:
    """The commit being built and the branch it is built for."""

    branch: str  # already a valid tag
    sha: str | None  # None outside a git repository
    note: str = ""  # why the branch tag is not simply the branch's name
    pull_request: bool = False  # never gets the release tags, whatever its branch's name
    dirty: tuple[str, ...] = ()  # root-relative paths that differ from the commit
    variant: str = (
        ""  # CUSTOM or NO_SAS: inputs the commit does not pin (tasks/planning/unpinned.py)
    )

    @property
    def short_sha(self) -> str | None:
        return self.sha[:SHORT_SHA_LENGTH] if self.sha else None

    @property
    def suffix(self) -> str:
        """What the build's own tag and label add to the commit: "", -dirty, -custom,
        -nosas, -dirty-custom, ..."""
        return (DIRTY if self.dirty else "") + self.variant

    @property
    def own_tag(self) -> str | None:
        """The tag only this kind of build gets (`<short sha>-dirty`, ...); None for a
        clean commit's build, whose tags are its SHA."""
        return f"{self.short_sha}{self.suffix}" if self.sha and self.suffix else None

    @property
    def branch_tag(self) -> str:
        """The branch tag images built here get: a build without SAS has its own."""
        return f"{self.branch}{NO_SAS}"[:128] if self.variant == NO_SAS else self.branch

    @property
    def label(self) -> str | None:
        """The revision label of images built here: the commit, or `<sha>-dirty` (or
        -custom, -nosas), which names no commit (reuse and push check it)."""
        return f"{self.sha}{self.suffix}" if self.sha else None

    def tags(self, settings: Settings, extra: tuple[str, ...] = ()) -> list[str]:
        if self.own_tag:
            # No SHA tag and no release tag: neither may name uncommitted files or inputs
            # the commit does not pin. A detached HEAD's branch tag is the short SHA, so it
            # goes too; a build without SAS gets a branch tag of its own.
            branch = [] if self.branch == self.short_sha else [self.branch]
            if self.variant == NO_SAS:
                branch = [self.branch_tag]
            return list(dict.fromkeys([*branch, self.own_tag, *extra]))
        tags = [self.branch]
        if self.sha:
            tags += [self.sha, self.sha[:SHORT_SHA_LENGTH]]
        if self.branch == sanitize(settings.release_branch) and not self.pull_request:
            tags += [settings.version_tag, LATEST]
        return list(dict.fromkeys([*tags, *extra]))


def revision(
    checkout: Checkout | None,
    environ: Mapping[str, str] = os.environ,
    unpinned: tuple[str, ...] = (),
    variant: str = "",
) -> Revision:
    """The commit and branch; `unpinned` names the inputs of a build here that the commit
    does not pin, and `variant` (CUSTOM or NO_SAS) is then the suffix its tags get."""
    if checkout is None:
        return Revision(
            NO_GIT_TAG, None, f"not a git repository: images get the tag {NO_GIT_TAG!r}"
        )
    clean = _branch_revision(checkout, environ)
    if unpinned:
        custom = dataclasses.replace(clean, variant=variant)
        own = f"{custom.own_tag}" + (f" and {clean.branch}{NO_SAS}" if variant == NO_SAS else "")
        why = (
            f"inputs this commit does not pin ({', '.join(unpinned)}): images get the tag "
            f"{own}, not this commit's SHA tags"
        )
        clean = dataclasses.replace(custom, note="; ".join(filter(None, [clean.note, why])))
    dirty = checkout.dirty_paths()
    if not dirty:
        return clean
    shown = ", ".join(dirty[:SHOWN_DIRTY_PATHS])
    more = f" and {len(dirty) - SHOWN_DIRTY_PATHS} more" if len(dirty) > SHOWN_DIRTY_PATHS else ""
    why = (
        f"uncommitted changes ({shown}{more}): images get the tag "
        f"{clean.short_sha}{DIRTY}{clean.variant}, "
        "not this commit's SHA tags; commit them for SHA tags"
    )
    note = "; ".join(filter(None, [clean.note, why]))
    return dataclasses.replace(clean, note=note, dirty=tuple(dirty))


def _branch_revision(checkout: Checkout, environ: Mapping[str, str]) -> Revision:
    sha = checkout.sha
    if environ.get("GITHUB_ACTIONS"):
        # No API calls: a pull request names its branch, a push names its ref.
        if environ.get("GITHUB_HEAD_REF"):
            return Revision(sanitize(environ["GITHUB_HEAD_REF"]), sha, pull_request=True)
        ref = environ.get("GITHUB_REF", "")
        for prefix in ("refs/heads/", "refs/tags/"):
            if ref.startswith(prefix):
                return Revision(sanitize(ref.removeprefix(prefix)), sha)
    if checkout.branch is None:
        short = sha[:SHORT_SHA_LENGTH]
        return Revision(short, sha, f"detached HEAD: the branch tag is the short SHA {short}")
    return Revision(sanitize(checkout.branch), sha)


class Group(enum.IntEnum):
    """What a tag claims, and so when it goes up: the groups in push order."""

    IMMUTABLE = 0  # a full or short SHA: exactly one build of one commit
    BRANCH = 1  # the branch tag, a dirty build's tag, extra tags
    MOVING = 2  # the version tag and latest: what users pull


def group(tag: str, settings: Settings) -> Group:
    if FULL_SHA.fullmatch(tag) or _SHORT_SHA.fullmatch(tag):
        return Group.IMMUTABLE
    return Group.MOVING if tag in (settings.version_tag, LATEST) else Group.BRANCH


def push_order(tag_names: Iterable[str], settings: Settings) -> list[str]:
    """Immutable tags (full SHA before short), then branch and extra tags, then the moving
    ones (the version tag before latest) last."""
    moving = [settings.version_tag, LATEST]

    def rank(tag: str) -> tuple[int, int]:
        kind = group(tag, settings)
        within = -len(tag) if kind == Group.IMMUTABLE else 0
        return (kind, moving.index(tag) if tag in moving else within)

    return sorted(tag_names, key=rank)


def dirty_build_tags(tag_names: Iterable[str], settings: Settings) -> list[str]:
    """The tags an image built from uncommitted files may go up under: those that claim
    no commit (no SHA tag, no release tag)."""
    return [tag for tag in tag_names if group(tag, settings) == Group.BRANCH]


def image_name(registry: str, stage: str) -> ImageRef:
    """REGISTRY/STAGE, the repository of a stage's images (no tag)."""
    return ImageRef.parse(f"{registry.rstrip('/')}/{stage}" if registry else stage)


def image_refs(registry: str, stage: str, tags: list[str]) -> list[str]:
    name = image_name(registry, stage)
    return [str(name.with_tag(tag)) for tag in tags]


def tag_names(refs: Iterable[str]) -> list[str]:
    """The tags of full references (REPO/STAGE:TAG, as the plan holds them)."""
    return [tag for tag in (ImageRef.parse(ref).tag for ref in refs) if tag is not None]
