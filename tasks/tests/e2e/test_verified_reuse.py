"""Signed pushes and verified reuse, end to end: a real registry, a real cosign, key pairs
made here. master's stages are pushed signed; then someone else puts images behind mid's
tags (one unsigned, one signed with another key), and reuse must refuse both."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tasks.registry import signing
from tasks.tests.e2e.test_signing import PASSWORD, key_pair
from tasks.tests.engine.test_bake import chain_in
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
    yield from push_signed_master(tmp_path_factory.mktemp("signed"), upstream, registry, engine)


def push_signed_master(tmp_path: Path, upstream: str, registry: str, engine):  # type: ignore[no-untyped-def]
    """A stack in `tmp_path` whose five stages are pushed signed from master, checked out
    on a feature branch that changes only sas: (repo, prefix, env, master's SHA)."""
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


def _moving_docker(folder: Path, tag_ref: str, forged: str) -> str:
    """A `docker` first on PATH that, the moment bake starts (after every check), moves
    `tag_ref` onto `forged`, registry-side: the race a registry writer can win."""
    real = shutil.which("docker")
    assert real is not None
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "buildx bake" ]; then "{real}" buildx imagetools create '
        f'--tag "{tag_ref}" "{forged}" >&2 || exit 99; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return str(folder)


def test_bake_builds_on_the_verified_digest_not_the_tag(
    signed_master, engine, upstream: str, tmp_path: Path
) -> None:
    """Verified, then moved: the child is built on the digest that verified, whether the
    tag was moved in the registry between the check and the build, or a stale local image
    carries the same name (the docker driver may prefer it)."""
    repo, prefix, env, master = signed_master
    host, path = prefix.split("/", 1)
    tag_ref = f"{prefix}/sas-kernel:{master}"
    verified = manifest_digest(host, f"{path}/sas-kernel", master)
    pinned = f"{prefix}/sas-kernel@{verified}"

    # Someone else's image, pushed where it can be moved behind the tag; and locally under
    # the very name and tag, as a stale image would be.
    dockerfile = f"FROM {upstream}\nRUN mkdir -p /stages && echo forged > /stages/forged.txt\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{prefix}/forged:x", rm=True)
    engine.images.push(f"{prefix}/forged", "x")
    engine.images.get(f"{prefix}/forged:x").tag(f"{prefix}/sas-kernel", master)
    forged = f"{prefix}/forged@{manifest_digest(host, f'{path}/forged', 'x')}"

    printed = run_tasks(repo, "bake", "sas", "--changed", "--repo", prefix, "--print", env=env)
    _ok(printed)
    definition = json.loads(printed.stdout)  # bake's own --print: the resolved definition
    assert definition["target"]["sas"]["contexts"] == {"sas-kernel": f"docker-image://{pinned}"}

    summary = tmp_path / "summary.md"
    moving = {
        **env,
        "PATH": f"{_moving_docker(tmp_path / 'bin', tag_ref, forged)}:{env['PATH']}",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    output = _ok(run_tasks(repo, "bake", "sas", "--changed", "--repo", prefix, env=moving))
    assert f"reusing {tag_ref} (the merge base's SHA tag): {pinned}" in output
    moved = manifest_digest(host, f"{path}/sas-kernel", master)
    assert moved != verified  # the wrapper did move the tag before bake read it
    feature = git(repo, "rev-parse", "HEAD")
    chain = chain_in(engine, f"{prefix}/sas:{feature}")
    assert "forged" not in chain
    assert chain == "base\nmid\nsas on feature\nsas_kernel\n"
    assert verified in summary.read_text()  # the job summary names the digest built on

    # Put the tag back for the tests after this one.
    restored = subprocess.run(
        ["docker", "buildx", "imagetools", "create", "--tag", tag_ref, pinned],
        capture_output=True,
        text=True,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr
    assert manifest_digest(host, f"{path}/sas-kernel", master) == verified


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
