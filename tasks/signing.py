"""Signatures and SBOM attestations of pushed images, made and checked by cosign.

We write no signing code: cosign does it, and we say which image, which key and what to
annotate. Two kinds of identity:
- a key pair (`signing-key` names cosign's private key, its password in COSIGN_PASSWORD;
  `verify-key` the public key that `verify` and reuse check against);
- keyless, in GitHub Actions: cosign takes the job's OIDC identity (the job needs
  `id-token: write`), and a verifier expects one workflow of this repository (the one
  that pushes) run on a publishing branch, or on the verifier's own ref; or, where the
  repository calls the runner's workflow by reference, that workflow at a release tag,
  run in this repository.
Key signatures go to no transparency log (`--tlog-upload=false`: the registry holds them,
and the key is the trust); keyless ones need Fulcio and Rekor, so they are logged.

Everything is signed and checked by digest: a tag can move, a digest cannot.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tasks.console import FAILURE, ZoneError
from tasks.references import ImageRef
from tasks.settings import Settings

ANNOTATION = "io.zone."  # our annotations: revision, stage, signed-at
SBOM_TYPE = "spdxjson"  # cosign's predicate type for an SPDX JSON SBOM
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
# The one workflow whose jobs push and sign (keyless): the only one trusted. Its job with
# `id-token: write` is the only one that runs `nox -s push` (tasks/tests/unit/test_identity.py).
SIGNING_WORKFLOW = "build-stage.yaml"
# cosign's reason when the attestations attached to a digest are about other digests.
_OTHER_SUBJECT = "no matching subject digest"


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who signs (private key or keyless) and whom a verifier trusts (public key, or the
    signing workflow of this repository on the refs that publish)."""

    # A key file's path, or a reference cosign resolves (env://VAR, a KMS URI); "" none.
    private_key: str = ""
    public_key: str = ""
    keyless_repository: str = ""  # owner/name in GitHub Actions; empty with keys
    keyless_refs: tuple[str, ...] = ()  # the git refs whose signatures are trusted
    # The runner's repository (owner/name) when the signing workflow is called from it by
    # reference, and the tags it is trusted at (a pattern, `*` any tag characters).
    runner_repository: str = ""
    runner_tags: str = ""

    @property
    def keyless(self) -> bool:
        return bool(self.keyless_repository) and not self.private_key

    @property
    def can_sign(self) -> bool:
        return bool(self.private_key) or (
            self.keyless and bool(os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"))
        )

    @property
    def can_verify(self) -> bool:
        return bool(self.public_key or self.keyless_repository)

    def sign_flags(self) -> list[str]:
        if self.private_key:
            return ["--key", self.private_key, "--tlog-upload=false"]
        if self.keyless:
            return []
        raise ZoneError(
            "nothing to sign with: no signing key and no GitHub Actions identity",
            hint="set [tool.zone] signing-key (or ZONE_SIGNING_KEY) to a cosign private key "
            "(`cosign generate-key-pair`), or sign in GitHub Actions with id-token: write",
        )

    def verify_flags(self) -> list[str]:
        if self.public_key:
            return ["--key", self.public_key, "--insecure-ignore-tlog=true"]
        if self.keyless_repository and self.runner_repository:
            return [
                "--certificate-identity-regexp",
                runner_identity(self.runner_repository, self.runner_tags),
                # The identity names the called workflow only: the run's own repository is
                # another claim of the certificate, which cosign compares exactly.
                "--certificate-github-workflow-repository",
                self.keyless_repository,
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ]
        if self.keyless_repository:
            return [
                "--certificate-identity-regexp",
                workflow_identity(self.keyless_repository, self.keyless_refs),
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ]
        raise ZoneError(
            "nothing to verify against: no verify key and no GitHub repository",
            hint="set [tool.zone] verify-key (or ZONE_VERIFY_KEY) to the cosign public key; "
            "or turn verification off with verify-reuse = false while the images are unsigned",
        )

    def describe(self) -> str:
        """Who a verified signature came from, in words (never a key's content)."""
        if self.public_key:
            return f"the holder of the private key of {self.public_key}"
        if self.runner_repository:
            return (
                f"{SIGNING_WORKFLOW} of github.com/{self.runner_repository} at tags "
                f"{self.runner_tags}, run in github.com/{self.keyless_repository}"
            )
        refs = ", ".join(ref.removeprefix("refs/heads/") for ref in self.keyless_refs)
        return f"{SIGNING_WORKFLOW} of github.com/{self.keyless_repository} on {refs}"


def workflow_identity(repository: str, refs: tuple[str, ...]) -> str:
    """The certificate identities trusted: the signing workflow of `repository` (owner/name)
    run on one of `refs`, nothing else (anchored; every literal part escaped, so a `.` in
    a name matches only a `.`).

    Fulcio puts a GitHub Actions job's `job_workflow_ref` claim in the certificate as the
    URI https://github.com/{job_workflow_ref} (sigstore/fulcio docs/oidc.md, "GitHub"), and
    for a job of a reusable workflow that claim names the called workflow, not the caller
    (sigstore/fulcio#306): docker.yaml's build jobs sign as build-stage.yaml. Its ref is
    the run's: refs/heads/BRANCH on a push, refs/pull/N/merge in a pull request
    (github/actions-oidc-debugger's README shows one). cosign matches the pattern with
    Go's regexp, where an escaped punctuation character is itself, as in Python's `re`.
    """
    if not refs:
        raise ZoneError("no branch is trusted to sign: set [tool.zone] publish-branches")
    workflow = f"https://github.com/{repository}/.github/workflows/{SIGNING_WORKFLOW}"
    return f"^{re.escape(workflow)}@({'|'.join(re.escape(ref) for ref in refs)})$"


def runner_identity(repository: str, tags: str) -> str:
    """The certificate identities trusted where this repository calls the signing workflow
    of the runner's `repository` by reference: that workflow at a tag matching `tags`
    (`*`: any run of tag characters, never a `/`), nothing else; anchored and escaped as
    workflow_identity's. A called workflow's `job_workflow_ref` names the ref it was
    called at (`uses: OWNER/REPO/.github/workflows/FILE@vX` gives refs/tags/vX), not
    the caller's branch (sigstore/fulcio docs/oidc.md; sigstore/fulcio#306)."""
    workflow = f"https://github.com/{repository}/.github/workflows/{SIGNING_WORKFLOW}"
    tag = "[A-Za-z0-9_.-]*".join(re.escape(part) for part in tags.split("*"))
    return f"^{re.escape(workflow)}@refs/tags/{tag}$"


def identity(settings: Settings) -> Identity:
    """The keys the settings name; else, in GitHub Actions, the workflow's identity:
    signing only where the job may ask for an OIDC token (`id-token: write` sets
    ACTIONS_ID_TOKEN_REQUEST_URL), verifying against the signing workflow of this
    repository on the publishing branches, and on this run's own ref (a pull request's
    images are trusted within it, and nowhere else); with runner-repository set to
    another repository, the runner's signing workflow at its tags, run in this one."""
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    repository = os.environ.get("GITHUB_REPOSITORY", "") if in_actions else ""
    runner = settings.runner_repository if settings.runner_repository != repository else ""
    refs = [f"refs/heads/{branch}" for branch in settings.signing_branches]
    if in_actions and os.environ.get("GITHUB_REF"):
        refs.append(os.environ["GITHUB_REF"])
    return Identity(
        private_key=_key(settings, settings.signing_key, "signing-key"),
        public_key=_key(settings, settings.verify_key, "verify-key"),
        keyless_repository=repository,
        keyless_refs=tuple(dict.fromkeys(refs)),
        runner_repository=runner,
        runner_tags=settings.runner_tags if runner else "",
    )


def _key(settings: Settings, value: str, setting: str) -> str:
    """A key file (relative to the root), or a reference cosign resolves itself
    (env://VAR, a KMS URI) passed as it is."""
    if not value or "://" in value:
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else settings.root / path
    if not path.is_file():
        raise ZoneError(
            f"[tool.zone] {setting}: no file at {path}",
            hint="`cosign generate-key-pair` makes cosign.key and cosign.pub",
        )
    return str(path)


@dataclasses.dataclass(frozen=True)
class Signature:
    """What one valid signature claims (cosign's simple-signing payload): the repository
    it was made in, the digest it signs, and our annotations. cosign checks the digest;
    the rest is ours to check (tasks/claims.py): `cosign copy` takes signatures along to
    another repository and tag without the key."""

    repository: str  # critical.identity.docker-reference
    digest: str  # critical.image.docker-manifest-digest
    annotations: dict[str, str]

    @property
    def stage(self) -> str:
        return self.annotations.get(ANNOTATION + "stage", "")

    @property
    def revision(self) -> str:
        return self.annotations.get(ANNOTATION + "revision", "")

    @classmethod
    def of(cls, payload: dict) -> Signature:
        critical = payload.get("critical")
        critical = critical if isinstance(critical, dict) else {}
        identity, image = critical.get("identity"), critical.get("image")
        optional = payload.get("optional")
        return cls(
            str(identity.get("docker-reference", "")) if isinstance(identity, dict) else "",
            str(image.get("docker-manifest-digest", "")) if isinstance(image, dict) else "",
            {str(k): str(v) for k, v in optional.items()} if isinstance(optional, dict) else {},
        )


@dataclasses.dataclass(frozen=True)
class Attested:
    """One valid SBOM attestation: the digests its in-toto statement names as its
    subject, and the SPDX document it carries."""

    subjects: tuple[str, ...]  # sha256:...
    document: dict


@dataclasses.dataclass(frozen=True)
class Verified:
    """What verification found on one image digest: every signature that verifies against
    the trusted identity, and every SBOM attestation that does."""

    reference: str  # name@sha256:...
    signer: str
    signatures: tuple[Signature, ...]  # oldest first; tasks/claims.py keeps the one trusted
    sboms: tuple[Attested, ...] = ()

    @property
    def annotations(self) -> dict[str, str]:
        return self.signatures[-1].annotations if self.signatures else {}

    @property
    def revision(self) -> str:
        return self.annotations.get(ANNOTATION + "revision", "")

    @property
    def digest(self) -> str:
        """The digest verified: `reference` names the image by it (verify takes no other)."""
        return ImageRef.parse(self.reference).digest or ""

    @property
    def sbom_packages(self) -> tuple[str, ...] | None:
        """The package names of the newest SBOM attested to this very digest; None: none."""
        mine = [sbom for sbom in self.sboms if self.digest in sbom.subjects]
        if not mine:
            return None
        packages = mine[-1].document.get("packages")
        packages = packages if isinstance(packages, list) else []
        return tuple(str(p.get("name", "")) for p in packages if isinstance(p, dict))


def sign(reference: str, identity: Identity, annotations: dict[str, str]) -> None:
    """Sign `reference` (name@sha256:...) with our annotations."""
    flags = [arg for key, value in annotations.items() for arg in ("-a", f"{key}={value}")]
    _cosign(["sign", "--yes", *identity.sign_flags(), *flags, _by_digest(reference)])


def attest_sbom(reference: str, identity: Identity, sbom: Path) -> None:
    """Attach `sbom` (SPDX JSON) to the image as a signed in-toto attestation."""
    command = ["attest", "--yes", *identity.sign_flags(), "--type", SBOM_TYPE]
    _cosign([*command, "--predicate", str(sbom), _by_digest(reference)])


def verify(reference: str, identity: Identity) -> Verified:
    """The image's signatures checked against `identity`, and its SBOM attestations read.
    Raises Unverified when no valid signature is there. What they claim is not checked
    here: tasks/claims.py does."""
    flags = identity.verify_flags()
    signatures = _cosign(["verify", *flags, "--output", "json", _by_digest(reference)])
    found = tuple(Signature.of(p) for p in _json_lines(signatures) if isinstance(p, dict))
    return Verified(reference, identity.describe(), found, _attestations(reference, flags))


class Unverified(ZoneError):
    """No valid signature: unsigned, signed by someone else, or the image moved."""


def attested_sbom(reference: str, identity: Identity) -> dict | None:
    """The SPDX document attested to `reference` (name@sha256:...) by `identity`, checked,
    and whose statement names that digest as its subject; None when there is no such
    attestation."""
    digest = ImageRef.parse(_by_digest(reference)).digest
    mine = [a for a in _attestations(reference, identity.verify_flags()) if digest in a.subjects]
    return mine[-1].document if mine else None


def _attestations(reference: str, flags: list[str]) -> tuple[Attested, ...]:
    command = ["verify-attestation", *flags, "--type", SBOM_TYPE, _by_digest(reference)]
    try:
        envelopes = _json_lines(_cosign(command))
    except Unverified as refused:
        if _OTHER_SUBJECT in refused.message:
            # Valid attestations are attached, but about another image (one moved behind
            # this digest): said as one naming no subject of it.
            return (Attested((), {}),)
        return ()  # none attached
    found = []
    for envelope in envelopes:
        try:
            statement = json.loads(base64.b64decode(envelope["payload"]))
        except (KeyError, TypeError, ValueError):
            raise ZoneError(
                f"{reference}: cosign verified an SBOM attestation it printed no statement of",
                exit_code=FAILURE,
            ) from None
        if not isinstance(statement, dict):
            continue
        predicate = statement.get("predicate")
        if isinstance(predicate, dict):
            found.append(Attested(_subjects(statement), predicate))
    return tuple(found)


def _subjects(statement: dict) -> tuple[str, ...]:
    """The digests an in-toto statement is about (`subject[].digest.sha256`)."""
    subjects = statement.get("subject")
    digests = []
    for subject in subjects if isinstance(subjects, list) else []:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digest, dict) and isinstance(digest.get("sha256"), str):
            digests.append("sha256:" + digest["sha256"])
    return tuple(digests)


def _by_digest(reference: str) -> str:
    if ImageRef.parse(reference).digest is None:
        raise ZoneError(f"{reference} is not pinned by digest: only a digest is signed")
    return reference


def _json_lines(text: str) -> list[dict]:
    """cosign prints one JSON document (a list) or one a line."""
    documents: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            parsed = json.loads(line)
            documents += parsed if isinstance(parsed, list) else [parsed]
    return documents


def _cosign(arguments: list[str]) -> str:
    executable = shutil.which("cosign")
    if executable is None:
        raise ZoneError("cosign is not installed", hint="bash .ci/provision-docker.sh installs it")
    # Never asked for anything on a terminal: a missing password is an error, not a prompt.
    env = {
        **os.environ,
        "COSIGN_YES": "true",
        "COSIGN_PASSWORD": os.environ.get("COSIGN_PASSWORD", ""),
    }
    result = subprocess.run(
        [executable, *arguments], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        reason = _last_error(result.stderr)
        if arguments[0].startswith("verify"):
            raise Unverified(f"{arguments[-1]}: {reason}", exit_code=FAILURE)
        raise ZoneError(
            f"cosign {arguments[0]} failed for {arguments[-1]}: {reason}", exit_code=FAILURE
        )
    return result.stdout


def _last_error(stderr: str) -> str:
    """cosign's own reason, one line (its warnings about skipped logs left out)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("Error:", "error"))]
    text = (errors or lines or ["no output"])[0]
    return text.removeprefix("Error: ")
