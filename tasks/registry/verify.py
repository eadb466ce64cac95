"""Who signed the images in the registry, when, from which commit: the work of
`nox -s verify` (its flags: tasks/commands/verify.py), and the check reuse makes.

Each image is looked up by tag, then checked by the digest the registry serves for it
(signature against the trusted identity, then its SBOM attestation), and what the
signature claims must be this image's (tasks/registry/claims.py): the stage asked for, the
repository it is read from, the commit its revision label names (the label is inside the
signed digest), and an SBOM attested to this digest.
"""

from __future__ import annotations

from collections.abc import Sequence

from tasks.console import FAILURE, ZoneError, err, shown
from tasks.docker import engine
from tasks.planning import tags
from tasks.registry import claims, signing
from tasks.settings import Settings
from tasks.shared import summary
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef


def run(
    settings: Settings,
    graph: BakeGraph,
    images: list[str],
    tag: str | None,
    revision: tags.Revision,
) -> int:
    stages = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    tag = tag or revision.sha or revision.branch
    identity = signing.identity(settings)
    identity.verify_flags()  # nothing to trust: one message before any look-up
    engine.preflight(None, need_engine=False)
    rows, refused = [], []
    for stage in stages:
        ref = tags.image_refs(settings.registry, stage, [tag])[0]
        found = signed(ref, identity, settings, stage)
        if isinstance(found, str):
            refused.append(f"{ref}: {found}")
            rows.append((stage, ref, "-", "NOT VERIFIED", "-", "-", "-"))
            continue
        attested = found.sbom_packages
        packages = "none attached" if attested is None else f"{len(attested)} packages"
        signed_at = found.annotations.get(signing.ANNOTATION + "signed-at", "-")
        digest = found.digest
        rows.append((stage, ref, digest, found.signer, signed_at, found.revision, packages))
    _show(rows)
    columns = ["stage", "image", "digest", "signed by", "signed at", "commit", "SBOM packages"]
    summary.table("Verified", columns, rows)
    if refused:
        raise ZoneError(
            f"not verified: {'; '.join(refused)}",
            hint="only images pushed by `nox -s push` with the signing key (or by this "
            "repository's workflows) verify",
            exit_code=FAILURE,
        )
    return 0


def signed(
    ref: str, identity: signing.Identity, settings: Settings, stage: str, commit: str = ""
) -> signing.Verified | str:
    """The verified image of `stage` at `ref` (by the digest the registry serves for it),
    or why it is not one: no valid signature, or one whose claims are not this image's
    (tasks/registry/claims.py; `commit`, when given, is the commit its build must be of)."""

    attempts, backoff = settings.push_attempts, settings.push_backoff
    digest = engine.with_registry_retries(
        lambda: engine.registry_digest(ref), f"looking up {ref}", ref, attempts, backoff
    )
    if digest is None:
        return "not in the registry"
    pinned = str(ImageRef.parse(ref).with_digest(digest))
    try:
        found = signing.verify(pinned, identity)
    except signing.Unverified as refused:
        return f"no valid signature ({refused.message.split(': ', 1)[-1]})"
    label = engine.with_registry_retries(
        lambda: engine.image_revision(pinned), f"reading {pinned}", ref, attempts, backoff
    )
    expected = claims.Expected(stage, ImageRef.parse(ref).name, commit)
    return claims.trusted(found, expected, label)


def _show(rows: Sequence[tuple[str, ...]]) -> None:
    """One line an image, never cut: logs keep every digest and commit whole."""
    for stage, ref, digest, signer, signed_at, commit, packages in rows:
        if digest == "-":
            err.print(shown(f"{stage}: {ref} NOT VERIFIED"), style="bold red")
            continue
        pinned = ImageRef.parse(ref).with_digest(digest)
        err.print(
            shown(
                f"{stage}: {pinned} signed by {signer} at {signed_at} "
                f"(said by the signer), commit {commit or 'not named'}, SBOM: {packages}"
            )
        )
