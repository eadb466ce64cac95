"""A build with inputs its commit does not pin (another upstream, an overridden bake
variable, raw --set flags, SAS_IMAGE=) is never this commit's image: its own tags, a label
and signature that say so, and push, retag and reuse treat it as a dirty build."""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from pathlib import Path

import pytest

from tasks.planning import tags, unpinned
from tasks.registry import signing
from tasks.settings import Settings, load
from tasks.stack import bakefile
from tasks.tests.e2e.test_signing import PASSWORD, key_pair
from tasks.tests.engine.test_bake import registry_tags
from tasks.tests.support import (
    UPSTREAM,
    clean_env,
    commit_all,
    git,
    make_stack,
    manifest_digest,
    remove_images,
    run_tasks,
    write,
)

LABEL = "org.opencontainers.image.revision"


def _find(stack: Path, environ: dict[str, str], raw: tuple[str, ...] = (), **settings: str):  # type: ignore[no-untyped-def]
    loaded: Settings = dataclasses.replace(load(stack), **settings)
    graph = bakefile.load(loaded.bake_path, environ=environ)
    return unpinned.find(loaded, graph, raw, environ)


def test_the_commits_own_inputs_are_pinned(stack: Path) -> None:
    assert _find(stack, {}) == unpinned.Unpinned()
    assert _find(stack, {"UPSTREAM_IMAGE": UPSTREAM}) == unpinned.Unpinned()  # its own pin
    assert _find(stack, {}, base_image=UPSTREAM) == unpinned.Unpinned()
    assert _find(stack, {}, ("--progress", "plain", "--debug", "--progress=tty")).what == ()


@pytest.mark.parametrize(
    ("environ", "raw", "settings", "said"),
    [
        ({}, (), {"base_image": "example.org/other:1"}, "--base-image example.org/other:1"),
        ({"UPSTREAM_IMAGE": "example.org/other:1"}, (), {}, "UPSTREAM_IMAGE=example.org/other:1"),
        (
            {},
            ("--set", "*.args.BASE_IMAGE=secret-value"),
            {},
            "raw bake flag --set *.args.BASE_IMAGE",
        ),
        (
            {},
            ("--set=base.contexts.x=docker-image://y",),
            {},
            "raw bake flag --set base.contexts.x",
        ),
        ({}, ("-f", "other.hcl"), {}, "raw bake flag -f"),
        ({"SAS_IMAGE": "", "UPSTREAM_IMAGE": "example.org/other:1"}, (), {}, "SAS_IMAGE="),
    ],
)
def test_an_input_the_commit_does_not_pin_makes_a_custom_build(
    stack: Path, environ: dict[str, str], raw: tuple[str, ...], settings: dict[str, str], said: str
) -> None:
    found = _find(stack, environ, raw, **settings)
    assert found.variant == tags.CUSTOM
    assert any(said in what for what in found.what), found.what
    assert "secret-value" not in " ".join(found.what)  # a raw flag's value is never shown


def test_a_base_image_the_committed_pyproject_sets_is_pinned(stack: Path) -> None:
    write(stack, "pyproject.toml", '[tool.zone]\nbase-image = "example.org/other:1"\n')
    commit_all(stack)
    assert _find(stack, {}).what == ()  # load() read the committed setting
    assert _find(stack, {}, base_image="example.org/third:1").variant == tags.CUSTOM


def test_a_build_without_sas_alone_is_its_own_variant(stack: Path) -> None:
    found = _find(stack, {"SAS_IMAGE": ""})
    assert found == unpinned.Unpinned(("SAS_IMAGE= (environment)",), tags.NO_SAS)


def test_the_plan_says_which_stages_the_environment_changes(stack: Path) -> None:
    env = clean_env(UPSTREAM_IMAGE="example.org/other:1")
    result = run_tasks(stack, "plan", "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    base = next(s for s in document["stages"] if s["name"] == "base")
    assert base["action"] == "build"
    assert "UPSTREAM_IMAGE=example.org/other:1" in base["reasons"][0]
    sha = git(stack, "rev-parse", "HEAD")
    assert [ref.rsplit(":", 1)[1] for ref in base["tags"]] == ["master", f"{sha[:8]}-custom"]
    assert "inputs this commit does not pin" in result.stderr


@pytest.mark.parametrize(
    ("env", "raw", "own_tag"),
    [
        ({"UPSTREAM_IMAGE": "example.org/other:1"}, (), "custom"),
        ({}, ("--", "--set", "*.args.EXTRA=1"), "custom"),
        ({"SAS_IMAGE": ""}, (), "nosas"),
    ],
)
def test_bake_labels_and_tags_a_custom_build(
    stack: Path, env: dict[str, str], raw: tuple[str, ...], own_tag: str
) -> None:
    sha = git(stack, "rev-parse", "HEAD")
    printed = run_tasks(stack, "bake", "sas-kernel", "--print", *raw, env=clean_env(**env))
    assert printed.returncode == 0, printed.stderr
    target = json.loads(printed.stdout)["target"]["sas-kernel"]
    assert target["labels"][LABEL] == f"{sha}-{own_tag}"
    found = {ref.rsplit(":", 1)[1] for ref in target["tags"]}
    branch = "master-nosas" if own_tag == "nosas" else "master"
    assert found == {branch, f"{sha[:8]}-{own_tag}"}  # no SHA tag, no v2, no latest


def test_custom_builds_pushed_are_never_reused_nor_under_sha_or_release_tags(
    tmp_path: Path, engine, upstream: str, registry: str
) -> None:  # type: ignore[no-untyped-def]
    """On a clean master: `bake --base-image OTHER` and `SAS_IMAGE= bake`, pushed (signed)
    with --allow-dirty; then a feature branch is offered them for reuse."""
    repo = make_stack(tmp_path / "stack")
    prefix = f"{registry}/custom{uuid.uuid4().hex[:6]}"
    host, path = prefix.split("/", 1)
    ours = key_pair(tmp_path / "keys", "ours")
    env = clean_env(
        UPSTREAM_IMAGE=upstream,
        ZONE_PUSH_ATTEMPTS="2",
        ZONE_PUSH_BACKOFF="0.1",
        ZONE_SIGNING_KEY=ours.private_key,
        ZONE_VERIFY_KEY=ours.public_key,
        ZONE_VERIFY_REUSE="true",
        COSIGN_PASSWORD=PASSWORD,
        ZONE_SBOM_CACHE=str(tmp_path / "sbom"),
    )
    sha = git(repo, "rev-parse", "HEAD")
    other = f"{prefix}/other:1"  # another upstream: its /ALT must never reach our SHA tags
    dockerfile = f"FROM {upstream}\nRUN echo other > /ALT\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=other, rm=True)
    engine.images.push(f"{prefix}/other", "1")

    try:
        flags = ("--repo", prefix)
        built = run_tasks(repo, "bake", "base", "--base-image", other, *flags, env=env)
        assert built.returncode == 0, built.stderr
        assert f"images get the tag {sha[:8]}-custom" in built.stderr
        no_sas = {**env, "SAS_IMAGE": ""}
        built = run_tasks(repo, "bake", "mid", *flags, env=no_sas)
        assert built.returncode == 0, built.stderr

        # Refused as a dirty build is: without --allow-dirty, and in CI.
        refused = run_tasks(repo, "push", "base", "--tag", f"{sha[:8]}-custom", *flags, env=env)
        assert refused.returncode == 2, refused.stderr
        assert f"revision {sha}-custom" in refused.stderr
        in_ci = run_tasks(repo, "push", "base", "--allow-dirty", *flags, env={**env, "CI": "true"})
        assert in_ci.returncode == 2 and "refused in CI" in in_ci.stderr

        # The commit's environment names its own tag: push finds the build by it.
        pushed = run_tasks(repo, "push", "mid", "--allow-dirty", *flags, env=no_sas)
        assert pushed.returncode == 0, pushed.stderr
        pushed = run_tasks(
            repo, "push", "base", "--tag", f"{sha[:8]}-custom", "--allow-dirty", *flags, env=env
        )
        assert pushed.returncode == 0, pushed.stderr
        assert _image_tags(prefix, "base") == {"master", f"{sha[:8]}-custom"}
        assert _image_tags(prefix, "mid") == {"master-nosas", f"{sha[:8]}-nosas"}

        # Its signature says so too.
        identity = signing.Identity(public_key=ours.public_key)
        digest = manifest_digest(host, f"{path}/base", "master")
        assert signing.verify(f"{prefix}/base@{digest}", identity).revision == f"{sha}-custom"

        # Offered for reuse (master's tag, signed by the trusted key): never taken.
        git(repo, "checkout", "-q", "-b", "feature")
        write(repo, "images/sas/stage.txt", "sas on feature\n")
        commit_all(repo)
        retag = run_tasks(repo, "retag", "base", "--dry-run", *flags, env=env)
        assert retag.returncode == 1, retag.stderr
        assert "was built from inputs its commit does not pin" in retag.stderr
        assert "no image to retag for base" in retag.stderr
        rebuilt = run_tasks(repo, "bake", "sas", "--changed", *flags, env=env)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"{prefix}/base:master was built from inputs its commit does not pin" in (
            rebuilt.stderr
        )
        assert "reusing" not in rebuilt.stderr
        assert "building base, mid, sas-kernel, sas" in rebuilt.stderr
        check = ["sh", "-c", "test -e /ALT && echo other || echo ours"]
        assert engine.containers.run(f"{prefix}/base:master", check, remove=True) == b"other\n"
        assert engine.containers.run(f"{prefix}/sas:feature", check, remove=True) == b"ours\n"
    finally:
        remove_images(engine, prefix)


def _image_tags(prefix: str, stage: str) -> set[str]:
    """The registry's tags of a stage, without cosign's (sha256-DIGEST.sig, .att)."""
    return {tag for tag in registry_tags(prefix, stage) if not tag.startswith("sha256-")}
