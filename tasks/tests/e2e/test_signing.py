"""Signatures and SBOM attestations with a real cosign against a real registry, with key
pairs this test makes. Keyless signing needs GitHub's OIDC, Fulcio and Rekor, which these
machines cannot reach: for it only the flags are checked (test_identity.py)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tasks.console import ZoneError
from tasks.registry import signing
from tasks.tests.support import manifest_digest

PASSWORD = "pw-" + uuid.uuid4().hex  # a secret: no output may show it


def key_pair(folder: Path, name: str) -> signing.Identity:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["cosign", "generate-key-pair", "--output-key-prefix", name],
        cwd=folder,
        env={"COSIGN_PASSWORD": PASSWORD, "PATH": "/usr/local/bin:/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    keys = (str(folder / f"{name}.key"), str(folder / f"{name}.pub"))
    return signing.Identity(private_key=keys[0], public_key=keys[1])


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    return PASSWORD


def pushed(engine: docker.DockerClient, upstream: str, registry: str, name: str) -> str:
    """`upstream` pushed as REGISTRY/NAME:v1; its name@digest."""
    engine.images.get(upstream).tag(f"{registry}/{name}", "v1")
    engine.images.push(f"{registry}/{name}", "v1")
    host, path = registry.split("/", 1)
    digest = manifest_digest(host, f"{path}/{name}", "v1")
    assert digest, "the push left no manifest"
    return f"{registry}/{name}@{digest}"


def sbom(folder: Path, packages: list[str]) -> Path:
    document = {
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "packages": [{"name": name, "SPDXID": f"SPDXRef-{name}"} for name in packages],
    }
    path = folder / "sbom.spdx.json"
    path.write_text(json.dumps(document))
    return path


def test_signed_and_attested_image_verifies_with_its_annotations(
    tmp_path: Path, engine, upstream: str, registry: str, password: str
) -> None:
    ours = key_pair(tmp_path / "keys", "ours")
    reference = pushed(engine, upstream, registry, "signed")
    signing.sign(reference, ours, {"io.zone.revision": "a" * 40, "io.zone.stage": "base"})
    signing.attest_sbom(reference, ours, sbom(tmp_path, ["pandas", "numpy", "r-base"]))

    verified = signing.verify(reference, signing.Identity(public_key=ours.public_key))

    assert verified.revision == "a" * 40
    assert verified.annotations["io.zone.stage"] == "base"
    assert verified.sbom_packages == ("pandas", "numpy", "r-base")
    assert "ours.pub" in verified.signer


def test_unsigned_or_foreign_signatures_are_refused(
    tmp_path: Path, engine, upstream: str, registry: str, password: str
) -> None:
    ours = key_pair(tmp_path / "keys", "ours")
    theirs = key_pair(tmp_path / "keys", "theirs")
    unsigned = pushed(engine, upstream, registry, "unsigned")
    with pytest.raises(signing.Unverified, match="no signatures found"):
        signing.verify(unsigned, ours)

    foreign = pushed(engine, upstream, registry, "foreign")
    signing.sign(foreign, theirs, {})
    with pytest.raises(signing.Unverified) as refused:
        signing.verify(foreign, ours)
    assert "invalid signature" in refused.value.message


def test_a_signed_image_without_sbom_says_so(
    tmp_path: Path, engine, upstream: str, registry: str, password: str
) -> None:
    ours = key_pair(tmp_path / "keys", "ours")
    reference = pushed(engine, upstream, registry, "nosbom")
    signing.sign(reference, ours, {})
    assert signing.verify(reference, ours).sbom_packages is None


def test_a_wrong_password_fails_without_showing_secrets(
    tmp_path: Path, engine, upstream: str, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = key_pair(tmp_path / "keys", "ours")
    reference = pushed(engine, upstream, registry, "badpass")
    monkeypatch.setenv("COSIGN_PASSWORD", "not-" + PASSWORD)
    with pytest.raises(ZoneError) as failed:
        signing.sign(reference, ours, {})
    assert "cosign sign failed" in failed.value.message
    assert PASSWORD not in failed.value.message + failed.value.hint
    assert "PRIVATE KEY" not in failed.value.message


def test_only_digests_are_signed() -> None:
    with pytest.raises(ZoneError, match="not pinned by digest"):
        signing.sign("localhost:5000/a/b:v1", signing.Identity(private_key="k"), {})


def test_keyless_signing_passes_no_key() -> None:
    """Fulcio, Rekor and GitHub's OIDC are out of reach here: the flags alone are checked
    (the identity trusted: test_identity.py)."""
    keyless = signing.Identity(keyless_repository="StatCan/zone-kubeflow-containers")
    assert keyless.sign_flags() == []


def test_no_identity_is_one_message() -> None:
    with pytest.raises(ZoneError, match="nothing to sign with"):
        signing.Identity().sign_flags()
    with pytest.raises(ZoneError, match="nothing to verify against") as refused:
        signing.Identity().verify_flags()
    assert "verify-reuse = false" in refused.value.hint
