"""Signed pushes and verified reuse, end to end: a real registry, a real cosign, key pairs
made here. master's stages are pushed signed; then someone else puts images behind mid's
tags (one unsigned, one signed with another key), and reuse must refuse both."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from tasks import signing
from tasks.tests.e2e.test_signing import PASSWORD, key_pair
from tasks.tests.support import (
    clean_env,
    commit_all,
    git,
    make_stack,
    manifest_digest,
    remove_images,
    run_tasks,
    write,
)

STAGES = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def signed_master(tmp_path_factory: pytest.TempPathFactory, upstream: str, registry: str, engine):  # type: ignore[no-untyped-def]
    """master's five stages pushed and signed; a feature branch that changes only sas.
    One for the module (a bake and a push take a minute): the test that forges images
    behind mid's tags runs last."""
    tmp_path = tmp_path_factory.mktemp("signed")
    repo = make_stack(tmp_path / "stack")
    ours = key_pair(tmp_path / "keys", "ours")
    prefix = f"{registry}/signed{uuid.uuid4().hex[:6]}"
    env = clean_env(
        UPSTREAM_IMAGE=upstream,
        ZONE_PUSH_ATTEMPTS="2",
        ZONE_PUSH_BACKOFF="0.1",
        ZONE_VERIFY_REUSE="true",
        ZONE_SIGNING_KEY=ours.private_key,
        ZONE_VERIFY_KEY=ours.public_key,
        COSIGN_PASSWORD=PASSWORD,
        ZONE_SBOM_CACHE=str(tmp_path / "sbom"),
    )
    _ok(run_tasks(repo, "bake", "--repo", prefix, env=env))
    pushed = _ok(run_tasks(repo, "push", *STAGES, "--repo", prefix, env=env))
    assert pushed.count("signing ") == len(STAGES), pushed
    assert pushed.count("attaching its SBOM") == len(STAGES), pushed
    master = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "sas on feature\n")
    commit_all(repo)
    yield repo, prefix, env, master
    remove_images(engine, prefix)


def _tamper(engine, upstream: str, prefix: str, tag: str, signer=None) -> None:  # type: ignore[no-untyped-def]
    """Someone else's image behind mid:TAG (the upstream busybox with a label of its own:
    an image of its own digest), signed by `signer`."""
    dockerfile = io.BytesIO(f"FROM {upstream}\nLABEL forged={tag}\n".encode())
    engine.images.build(fileobj=dockerfile, tag=f"{prefix}/mid:{tag}", rm=True)
    engine.images.push(f"{prefix}/mid", tag)
    host, path = prefix.split("/", 1)
    digest = manifest_digest(host, f"{path}/mid", tag)
    if signer is not None:
        signing.sign(f"{prefix}/mid@{digest}", signer, {})


def test_verify_names_signer_commit_and_time(signed_master) -> None:
    repo, prefix, env, master = signed_master
    result = run_tasks(repo, "verify", "base", "mid", "--repo", prefix, "--tag", master, env=env)
    output = _ok(result)
    assert output.count(master) >= 2, output  # each image's signed commit
    assert "ours.pub" in output
    assert PASSWORD not in output
    # Each pushed image carries its SBOM, made by syft: the fixture stack is busybox's.
    assert output.count("SBOM: ") == 2 and "SBOM: none attached" not in output
    identity = signing.Identity(public_key=env["ZONE_VERIFY_KEY"])
    host, path = prefix.split("/", 1)
    base = f"{prefix}/base@{manifest_digest(host, f'{path}/base', master)}"
    assert "busybox" in (signing.verify(base, identity).sbom_packages or ())


def test_verification_off_warns_on_every_reuse(signed_master) -> None:
    repo, prefix, env, _ = signed_master
    env = {**env, "ZONE_VERIFY_REUSE": "false"}
    output = _ok(run_tasks(repo, "retag", "--repo", prefix, "--dry-run", env=env))
    assert output.count("reused without checking its signature (verify-reuse off)") == 4


def test_retag_takes_only_verified_images(
    signed_master, engine, upstream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, prefix, env, master = signed_master
    output = _ok(run_tasks(repo, "retag", "--repo", prefix, "--dry-run", env=env))
    assert "verify-reuse off" not in output
    assert f"mid: {prefix}/mid:{master}" in output

    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    theirs = key_pair(tmp_path / "other", "theirs")
    _tamper(engine, upstream, prefix, master)  # unsigned, behind the merge base's SHA tag
    _tamper(engine, upstream, prefix, "master", signer=theirs)  # another key's signature
    refused = run_tasks(repo, "retag", "--repo", prefix, env=env)
    assert refused.returncode == 1, refused.stderr
    assert "not retagged: no verified image of mid" in refused.stderr
    assert "no signatures found" in refused.stderr
    assert "invalid signature" in refused.stderr
    assert f"{prefix}/mid:{master}" in refused.stderr
    assert "Traceback" not in refused.stderr

    # A change to sas-kernel: its parent mid must come from the registry, or be built.
    write(repo, "images/sas_kernel/stage.txt", "sas-kernel on feature\n")
    commit_all(repo)
    rebuilt = _ok(run_tasks(repo, "bake", "sas-kernel", "--changed", "--repo", prefix, env=env))
    assert "mid: no image in the registry is verified" in rebuilt
    assert f"base is unchanged: reusing {prefix}/base:{master}" in rebuilt

    failed = run_tasks(repo, "verify", "mid", "--repo", prefix, "--tag", master, env=env)
    assert failed.returncode == 1
    assert "not verified" in failed.stderr
