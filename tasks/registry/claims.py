"""Whether a verified signature vouches for the image being trusted: every claim it makes.

cosign checks that a signature was made by the trusted identity over this very digest.
It does not check what the signature says about the image, and `cosign copy` puts one
stage's signed image, its signatures and attestations along, behind another stage's tag
without any key. So a signature is taken only when everything it names is what is being
trusted (and the digest it signs is this one, which cosign checks too):
- the stage: its `io.zone.stage` annotation is the stage asked for;
- the repository: the one it was signed in (cosign's `docker-reference`) is the one the
  image is read from;
- the commit: its `io.zone.revision` annotation is the image's revision label (inside
  the signed digest), and, where reuse asks for one commit's build, that commit;
- the SBOM: an attestation read with it names this digest as its subject.
Anything else is refused, in one message naming the claim that did not match.
"""

from __future__ import annotations

import dataclasses

from tasks.console import ZoneError
from tasks.registry.signing import Signature, Verified
from tasks.stack.references import ImageRef


@dataclasses.dataclass(frozen=True)
class Expected:
    """What is being trusted: the stage's image at this repository."""

    stage: str
    repository: str  # REGISTRY/NAMESPACE/STAGE, as the image is read
    commit: str = ""  # the commit asked for; "": any (reuse checks the label's commit)


def trusted(found: Verified, expected: Expected, label: str | None) -> Verified | str:
    """`found` with only the signature that vouches for every claim (the newest such), or
    why none does: the newest signature's claims that did not match."""
    digest = found.digest
    matching = [s for s in found.signatures if not _mismatches(s, expected, label, digest)]
    if not matching:
        newest = found.signatures[-1] if found.signatures else Signature("", "", {})
        return "; ".join(_mismatches(newest, expected, label, digest))
    if found.sboms and found.sbom_packages is None:
        subjects = sorted({digest for sbom in found.sboms for digest in sbom.subjects})
        return (
            f"its SBOM attestation is about {', '.join(subjects) or 'another image'}, "
            f"not this image ({found.digest})"
        )
    return dataclasses.replace(found, signatures=(matching[-1],))


def _mismatches(
    signature: Signature, expected: Expected, label: str | None, digest: str
) -> list[str]:
    stage, commit = signature.stage, signature.revision
    wrong = []
    if signature.digest != digest:  # cosign checks it too; a payload that says otherwise
        wrong.append(f"its signature is of {signature.digest or '(no digest)'}, not {digest}")
    if stage != expected.stage:
        wrong.append(f"its signature is for stage {stage or '(none named)'}, not {expected.stage}")
    if _name(signature.repository) != _name(expected.repository):
        wrong.append(
            f"its signature was made in {signature.repository or '(no repository)'}, "
            f"not {expected.repository}"
        )
    if commit != (label or ""):
        wrong.append(
            f"its signature names commit {commit or '(none)'}, its revision label "
            f"{label or '(none)'}"
        )
    elif expected.commit and commit != expected.commit:
        wrong.append(f"its signature names commit {commit}, not {expected.commit} asked for")
    return wrong


def _name(repository: str) -> str:
    """A repository as Docker names it (docker.io's long forms made short); unparsable
    text stays as it is, and so matches no image's name."""
    try:
        return ImageRef.parse(repository).familiar_name
    except ZoneError:
        return repository
