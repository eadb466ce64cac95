"""Issue 17 §1: a signature is valid only for what it names. Someone who can write to the
registry but holds no key copies one stage's signed image, signatures and attestations
along (`cosign copy`), behind another stage's tags: verify, retag and `bake --changed`
refuse it, naming the claim that did not match. The claims themselves first, one by one.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.registry import claims, signing
from tasks.registry.signing import ANNOTATION, Attested, Signature, Verified
from tasks.tests.e2e.test_signing import PASSWORD, key_pair, sbom
from tasks.tests.e2e.test_verified_reuse import push_signed_master
from tasks.tests.support import git, manifest_digest, run_tasks

SHA, OTHER = "a" * 40, "b" * 40
DIGEST, OTHER_DIGEST = "sha256:" + "1" * 64, "sha256:" + "2" * 64
REPO = "localhost:5000/team/mid"
MID = claims.Expected("mid", REPO)


def _signature(stage: str = "mid", revision: str = SHA, repository: str = REPO) -> Signature:
    annotations = {ANNOTATION + "stage": stage, ANNOTATION + "revision": revision}
    return Signature(repository, DIGEST, annotations)


def _verified(*signatures: Signature, sboms: tuple[Attested, ...] = ()) -> Verified:
    return Verified(f"{REPO}@{DIGEST}", "the key", signatures, sboms)


# --- each claim -------------------------------------------------------------------------


def test_a_signature_whose_every_claim_matches_is_trusted() -> None:
    sbom = Attested((DIGEST,), {"packages": [{"name": "pandas"}]})
    found = claims.trusted(_verified(_signature(), sboms=(sbom,)), MID, SHA)
    assert isinstance(found, Verified)
    assert (found.annotations[ANNOTATION + "stage"], found.revision) == ("mid", SHA)
    assert found.sbom_packages == ("pandas",)
    # Docker Hub's long names are the same repository.
    hub = claims.Expected("mid", "docker.io/team/mid")
    assert isinstance(
        claims.trusted(_verified(_signature(repository="team/mid")), hub, SHA), Verified
    )


@pytest.mark.parametrize(
    ("signature", "label", "expected", "message"),
    [
        (_signature(stage="base"), SHA, MID, "its signature is for stage base, not mid"),
        (
            dataclasses.replace(_signature(), digest=OTHER_DIGEST),
            SHA,
            MID,
            f"its signature is of {OTHER_DIGEST}, not {DIGEST}",
        ),
        (_signature(stage=""), SHA, MID, "its signature is for stage (none named), not mid"),
        (
            _signature(repository="localhost:5000/team/base"),
            SHA,
            MID,
            f"its signature was made in localhost:5000/team/base, not {REPO}",
        ),
        (_signature(), OTHER, MID, f"its signature names commit {SHA}, its revision label {OTHER}"),
        (_signature(revision=""), SHA, MID, f"names commit (none), its revision label {SHA}"),
        (_signature(), None, MID, f"names commit {SHA}, its revision label (none)"),
        (
            _signature(),
            SHA,
            claims.Expected("mid", REPO, commit=OTHER),
            f"its signature names commit {SHA}, not {OTHER} asked for",
        ),
    ],
)
def test_a_claim_that_does_not_match_is_named(
    signature: Signature, label: str | None, expected: claims.Expected, message: str
) -> None:
    refused = claims.trusted(_verified(signature), expected, label)
    assert isinstance(refused, str)
    assert message in refused


def test_every_claim_that_does_not_match_is_in_the_one_message() -> None:
    copied = _signature(stage="base", repository="localhost:5000/team/base")
    refused = claims.trusted(_verified(copied), MID, SHA)
    assert refused == (
        "its signature is for stage base, not mid; "
        f"its signature was made in localhost:5000/team/base, not {REPO}"
    )


def test_the_signature_that_vouches_is_kept_among_others() -> None:
    """Several valid signatures on one digest: one that matches every claim is enough,
    and it is the one whose annotations are shown."""
    found = claims.trusted(_verified(_signature(), _signature(stage="base")), MID, SHA)
    assert isinstance(found, Verified)
    assert found.signatures == (_signature(),)


def test_an_sbom_attested_to_another_digest_is_refused() -> None:
    elsewhere = Attested((OTHER_DIGEST,), {"packages": [{"name": "evil"}]})
    refused = claims.trusted(_verified(_signature(), sboms=(elsewhere,)), MID, SHA)
    assert refused == f"its SBOM attestation is about {OTHER_DIGEST}, not this image ({DIGEST})"
    # None attested at all is said as such by verify ("none attached"), not refused.
    found = claims.trusted(_verified(_signature()), MID, SHA)
    assert isinstance(found, Verified) and found.sbom_packages is None


def test_no_signature_at_all_names_every_claim() -> None:
    refused = claims.trusted(_verified(), MID, SHA)
    assert isinstance(refused, str) and "stage (none named), not mid" in refused


# --- the attack, for real: cosign copy behind another stage's tags ----------------------


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    return PASSWORD


@pytest.fixture(scope="module")
def signed(
    tmp_path_factory: pytest.TempPathFactory, upstream: str, registry: str, engine
) -> Iterator[tuple[Path, str, dict[str, str], str]]:
    yield from push_signed_master(tmp_path_factory.mktemp("claims"), upstream, registry, engine)


def _copy(source: str, target: str) -> None:
    """What an attacker with write access to the registry does, with no key: the image,
    its signatures and attestations copied along behind another tag."""
    subprocess.run(
        ["cosign", "copy", "--force", source, target], check=True, capture_output=True, text=True
    )


def test_a_stage_copied_behind_another_stages_tags_is_refused(
    signed: tuple[Path, str, dict[str, str], str], engine: docker.DockerClient
) -> None:
    repo, prefix, env, master = signed
    host, namespace = prefix.split("/", 1)
    digest = {s: manifest_digest(host, f"{namespace}/{s}", master) for s in ("base", "mid")}
    for tag in (master, "master"):  # every tag reuse looks at for mid
        _copy(f"{prefix}/base@{digest['base']}", f"{prefix}/mid:{tag}")
    assert manifest_digest(host, f"{namespace}/mid", master) == digest["base"]

    verified = run_tasks(repo, "verify", "mid", "--repo", prefix, "--tag", master, env=env)
    assert verified.returncode == 1, verified.stderr
    assert f"{prefix}/mid:{master}: its signature is for stage base, not mid" in verified.stderr
    assert f"its signature was made in {prefix}/base, not {prefix}/mid" in verified.stderr
    assert "Traceback" not in verified.stderr

    feature = git(repo, "rev-parse", "HEAD")
    retagged = run_tasks(repo, "retag", "--repo", prefix, env=env)
    assert retagged.returncode == 1, retagged.stderr
    assert "not retagged: no verified image of mid" in retagged.stderr
    assert f"{prefix}/mid:master: its signature is for stage base, not mid" in retagged.stderr
    assert manifest_digest(host, f"{namespace}/mid", feature) is None  # no tag written

    # One level down: mid's signed image behind sas-kernel's tags. sas must not be built
    # on it: sas-kernel is built (on a mid built here), and sas on that.
    for tag in (master, "master"):
        _copy(f"{prefix}/mid@{digest['mid']}", f"{prefix}/sas-kernel:{tag}")
    baked = run_tasks(repo, "bake", "sas", "--changed", "--repo", prefix, env=env)
    output = baked.stdout + baked.stderr
    assert baked.returncode == 0, output
    assert "sas-kernel: no image in the registry is verified (" in output
    assert "its signature is for stage mid, not sas-kernel" in output
    assert f"base is unchanged: reusing {prefix}/base:{master}" in output
    built = engine.containers.run(
        f"{prefix}/sas:{feature}", ["cat", "/stages/sas_kernel.txt"], remove=True
    )
    assert built.strip(), "sas was built without sas-kernel's file"


def _image(engine: docker.DockerClient, upstream: str, registry: str, tag: str) -> str:
    """An image of its own digest pushed as REGISTRY/moved:TAG; its name@digest."""
    dockerfile = io.BytesIO(f"FROM {upstream}\nLABEL which={tag}\n".encode())
    engine.images.build(fileobj=dockerfile, tag=f"{registry}/moved:{tag}", rm=True)
    engine.images.push(f"{registry}/moved", tag)
    host, namespace = registry.split("/", 1)
    digest = manifest_digest(host, f"{namespace}/moved", tag)
    assert digest
    return f"{registry}/moved@{digest}"


def test_an_sbom_attestation_moved_behind_another_digest_is_refused(
    tmp_path: Path, engine: docker.DockerClient, upstream: str, registry: str, password: str
) -> None:
    """Another image's signed SBOM attestation put behind this digest's `.att` tag (the
    registry API, no key): the image's signature verifies, its SBOM claim does not."""
    ours = key_pair(tmp_path / "keys", "ours")
    image, other = _image(engine, upstream, registry, "a"), _image(engine, upstream, registry, "b")
    claimed = {ANNOTATION + "stage": "moved", ANNOTATION + "revision": SHA}
    signing.sign(image, ours, claimed)
    signing.attest_sbom(other, ours, sbom(tmp_path, ["evil"]))
    host, namespace = registry.split("/", 1)
    attestation = f"http://{host}/v2/{namespace}/moved/manifests/"
    media = "application/vnd.oci.image.manifest.v1+json"
    fetch = urllib.request.Request(attestation + other.split("@")[1].replace(":", "-") + ".att")
    fetch.add_header("Accept", media)
    with urllib.request.urlopen(fetch, timeout=10) as response:
        manifest = response.read()
    put = urllib.request.Request(
        attestation + image.split("@")[1].replace(":", "-") + ".att", data=manifest, method="PUT"
    )
    put.add_header("Content-Type", media)
    urllib.request.urlopen(put, timeout=10).close()

    found = signing.verify(image, ours)
    refused = claims.trusted(found, claims.Expected("moved", image.split("@")[0]), SHA)
    assert (
        refused == f"its SBOM attestation is about another image, not this image ({found.digest})"
    )
    assert signing.attested_sbom(image, ours) is None  # release notes read it with syft
    # The attestation where it belongs is still read.
    assert signing.attested_sbom(other, ours) is not None
