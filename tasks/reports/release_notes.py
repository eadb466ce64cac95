"""Release notes: what each served image of this release costs a node holding the previous
release to pull, and which packages changed, from the registry alone.

The images are the ones the docker workflow pushed under the commits' SHA tags (every
push to master tags every stage with its SHA, built or retagged), so no image is pulled
into an engine. Packages come from each image's signed SBOM attestation (what `push`
attaches) when there is an identity to verify it with, else from a syft scan of the
image in the registry (cached by digest). Both sides of a comparison are read the same
way, from SPDX documents, so a package's type means the same on both.
"""

from __future__ import annotations

import dataclasses
import json
import re

from tasks.checkout.changes import Checkout, GitFailed
from tasks.console import ZoneError, note
from tasks.planning import tags
from tasks.registry import layers, sbom, signing
from tasks.reports import cost
from tasks.reports.cost import Cost
from tasks.settings import Settings
from tasks.shared import shape, summary
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef

TOP = 5  # the largest new layers listed for each image
# GitHub refuses a release body over 125,000 characters ("body is too long (maximum is
# 125000 characters)", its API's 422); GitHub's generated notes follow ours in it.
MAX_CHARACTERS = 100_000
_PACKAGE_ROWS = (None, 2000, 500, 100, 20, 0)  # per image, tried in turn until it fits
# The dated tags release.yaml makes: v2026.12.02, then v2026.12.02.2, ...
_RELEASE_TAG = re.compile(r"v\d{4}\.\d{2}\.\d{2}(\.\d+)?")


@dataclasses.dataclass(frozen=True)
class Previous:
    name: str  # the release's git tag, or the revision given
    sha: str


def commit(checkout: Checkout, given: str | None) -> str:
    """The released commit: `given` (a tag or commit), else HEAD."""
    if given is None:
        return checkout.sha
    if not checkout.resolves(given):
        raise ZoneError(f"--commit {given!r} names no commit here", hint="a SHA or a tag")
    return checkout.git("rev-parse", f"{given}^{{commit}}").strip()


def previous_release(checkout: Checkout, given: str | None, released: str) -> Previous | None:
    """`given` (a tag or commit), else the newest release tag on a commit before
    `released`; None when there is none (a first release)."""
    if checkout.git("rev-parse", "--is-shallow-repository").strip() == "true":
        raise ZoneError(
            "release notes need the whole history (the previous release's tag and commit)",
            hint="check out with fetch-depth: 0 (git fetch --unshallow --tags)",
        )
    if given:
        if not checkout.resolves(given):
            raise ZoneError(f"--previous {given!r} names no commit here", hint="e.g. v2026.11.30")
        return Previous(given, checkout.git("rev-parse", f"{given}^{{commit}}").strip())
    try:  # version order: the dated names sort as the days and numbers they carry
        listed = checkout.git("tag", "--merged", f"{released}^", "--sort=-v:refname", "v*")
    except GitFailed:  # it is the first commit
        return None
    name = next((tag for tag in listed.split() if _RELEASE_TAG.fullmatch(tag)), None)
    if name is None:
        return None
    return Previous(name, checkout.git("rev-parse", f"{name}^{{commit}}").strip())


def compare(
    settings: Settings, stage: str, tag: str, previous: Previous | None, with_packages: bool
) -> tuple[Cost, str]:
    """The stage's image at `tag` against the previous release's, both in the registry;
    and where its packages came from."""
    name = tags.image_name(settings.registry, stage)
    ref = str(name.with_tag(tag))
    image = layers.remote(ref, settings)
    if image is None:
        raise ZoneError(
            f"{ref} is not in the registry",
            hint="release notes read the images the docker workflow pushed for this commit: "
            "run them after it (release.yaml waits for it), or give --tag",
        )
    release_ref = str(name.with_tag(previous.sha)) if previous else ""
    release = layers.remote(release_ref, settings) if previous else None
    if previous and release is None:
        note(f"{release_ref} is not in the registry: {stage}'s figures are absolute")
    found = Cost(stage, ref, release_ref, release, cost.compare(image, image, {}, release, None))
    if not with_packages:
        return found, ""
    identity = signing.identity(settings)
    now, source = _packages(name, image, identity)
    before, _ = _packages(name, release, identity) if release else (frozenset(), "")
    return dataclasses.replace(found, packages=sbom.diff(before, now)), source


def _packages(
    name: ImageRef, image: layers.Image, identity: signing.Identity
) -> tuple[frozenset[sbom.Package], str]:
    if identity.can_verify:  # attested to what the tag names, as push signs it
        signed = str(name.with_digest(image.tag_digest or image.digest))
        attested = signing.attested_sbom(signed, identity)
        if attested is not None:
            try:
                return sbom.from_spdx(attested), "the signed SBOM attestation"
            except shape.Malformed as exc:
                raise ZoneError(f"the SBOM attested to {signed} is malformed: {exc}") from None
        note(f"{signed} has no SBOM attestation that verifies: syft reads its packages")
    pinned = str(name.with_digest(image.digest))
    # Cached by what the tag names, as cost caches a release (and push, with the
    # containerd image store, the same image by its ID).
    document = sbom.spdx_document(f"registry:{pinned}", image.tag_digest or image.digest)
    try:
        return sbom.from_spdx(json.loads(document.read_text(encoding="utf-8"))), "a syft scan"
    except (OSError, ValueError) as exc:
        raise ZoneError(f"cannot read the SBOM of {pinned} ({exc})") from None


def markdown(results: list[Cost], sources: list[str], tag: str, previous: Previous | None) -> str:
    """The notes: a heading, what was compared, then the cost report's tables; package
    lists cut short (and said so) when the whole would not fit a GitHub release."""
    for rows in _PACKAGE_ROWS:
        text = _markdown(results, sources, tag, previous, rows)
        if len(text) <= MAX_CHARACTERS:
            return text
    return text  # the tables without a package row: a handful of lines an image


def _markdown(
    results: list[Cost], sources: list[str], tag: str, previous: Previous | None, cut: int | None
) -> str:
    if previous is None:
        against = "No previous release: sizes are absolute, every package is new."
    else:
        against = f"Compared with the previous release, {previous.name} ({previous.sha[:12]})."
    read = sorted(set(filter(None, sources)))
    lines = [
        "## What this release costs to pull",
        "",
        summary.text(
            f"Images at {tag[:12]}. {against} New to pull: what a node holding the previous "
            "release downloads."
        ),
    ]
    if read:
        lines += ["", summary.text(f"Packages from {' and '.join(read)} of each image.")]
    for title, columns, rows, collapsed in cost.report_tables(results, TOP):
        if columns[-1] == "budget":  # a release has no budget to show
            columns, rows = columns[:-1], [row[:-1] for row in rows]
        if collapsed and cut is not None and len(rows) > cut:  # a package list
            title = f"{title}: the first {cut} of {len(rows)} (nox -s release-notes lists all)"
            rows = rows[:cut]
        lines += ["", summary.markdown(title, columns, rows, collapsed)]
    return "\n".join(lines) + "\n"


def served(graph: BakeGraph) -> list[str]:
    """The images people run: the stages with no child."""
    return [name for name in graph.stages if not graph.children(name)]
