"""`nox -s bake` on a real engine, a real buildx and a real registry, driven as users do."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest

from tasks.tests.support import (
    clean_env,
    commit_all,
    git,
    make_stack,
    remove_images,
    run_nox,
    run_tasks,
    write,
)

CHAIN = ["base", "mid", "sas-kernel", "jupyterlab-cpu"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack", with_runner=True)


@pytest.fixture
def env(upstream: str) -> dict[str, str]:
    # Same-name environment variables override bake variables: the fixture upstream.
    return clean_env(UPSTREAM_IMAGE=upstream)


def tags_of(engine: docker.DockerClient, ref: str) -> set[str]:
    try:
        return set(engine.images.get(ref).tags)
    except docker.errors.ImageNotFound:
        return set()


def layers_of(engine: docker.DockerClient, ref: str) -> list[str]:
    return engine.images.get(ref).attrs["RootFS"]["Layers"]


def chain_in(engine: docker.DockerClient, ref: str) -> str:
    output = engine.containers.run(ref, ["cat", "/stages/chain"], remove=True)
    return output.decode()


def registry_tags(prefix: str, stage: str) -> set[str]:
    host, namespace = prefix.split("/", 1)
    url = f"http://{host}/v2/{namespace}/{stage}/tags/list"
    with urllib.request.urlopen(url, timeout=10) as response:
        return set(json.load(response)["tags"] or [])


def step_outcomes(log: str) -> dict[str, str]:
    """BuildKit's plain progress -> {RUN/COPY step: "CACHED" or "DONE"}.

    Steps are keyed by their vertex number: BuildKit deduplicates identical steps of
    several targets and labels them with any one target's name.
    """
    steps = dict(re.findall(r"^#(\d+) \[[^\]]+\] ((?:RUN|COPY) .*)$", log, re.MULTILINE))
    outcomes = {}
    for number, step in steps.items():
        status = re.findall(rf"^#{number} (CACHED|DONE)\b", log, re.MULTILINE)
        outcomes[f"#{number} {step}"] = status[-1] if status else "unfinished"
    return outcomes


def test_bake_builds_the_chain_with_every_tag_then_serves_it_from_cache(
    engine, registry: str, repo: Path, env, nox_envdir: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature/Lab-Work")
    sha = git(repo, "rev-parse", "HEAD")
    first = run_nox(repo, nox_envdir, "bake", "jupyterlab", "--repo", registry, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    for stage in CHAIN:
        expected = {f"{registry}/{stage}:{t}" for t in ("feature-Lab-Work", sha, sha[:8])}
        assert tags_of(engine, f"{registry}/{stage}:{sha}") == expected
    assert tags_of(engine, f"{registry}/sas:{sha}") == set()  # not asked for, not built
    assert (
        chain_in(engine, f"{registry}/jupyterlab-cpu:{sha}")
        == "base\njupyterlab\nmid\nsas_kernel\n"
    )
    layers = {stage: layers_of(engine, f"{registry}/{stage}:{sha}") for stage in CHAIN}

    second = run_nox(repo, nox_envdir, "bake", "jupyterlab", "--repo", registry, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    outcomes = step_outcomes(second.stdout + second.stderr)
    assert len(outcomes) == 2 * len(CHAIN) + 1  # a COPY and a RUN per stage, base's bin/
    assert set(outcomes.values()) == {"CACHED"}
    # Same layers; the image IDs differ only by the build's provenance timestamps.
    assert {stage: layers_of(engine, f"{registry}/{stage}:{sha}") for stage in CHAIN} == layers
    remove_images(engine, registry)


def without_contexts_links(repo: Path) -> None:
    """The original project's shape: parents named only by `BASE_IMAGE = "<target>"`."""
    bake = repo / "docker-bake.hcl"
    bake.write_text(re.sub(r"(?m)^\s*contexts\s*=.*\n", "", bake.read_text()))
    commit_all(repo, "parents by build args only")


def test_parents_named_only_by_build_args_build_as_one_chain(
    engine, registry: str, repo: Path, env
) -> None:
    without_contexts_links(repo)
    printed = run_tasks(repo, "bake", "sas", "--print", "--repo", registry, env=env)
    assert printed.returncode == 0, printed.stderr
    definition = json.loads(printed.stdout)["target"]
    assert set(definition) == {"base", "mid", "sas-kernel", "sas"}
    assert definition["sas"]["contexts"] == {"sas-kernel": "target:sas-kernel"}
    assert definition["mid"]["contexts"] == {"base": "target:base"}
    # Without the links, `FROM base` would be docker.io/library/base: no such image here.
    built = run_tasks(repo, "bake", "sas", "--repo", registry, env=env)
    assert built.returncode == 0, built.stderr
    sha = git(repo, "rev-parse", "HEAD")
    assert chain_in(engine, f"{registry}/sas:{sha}") == "base\nmid\nsas\nsas_kernel\n"
    remove_images(engine, registry)


def test_changed_builds_only_the_changed_leaf_on_the_parent_from_the_registry(
    engine, registry: str, repo: Path, env, nox_envdir: Path
) -> None:
    base_sha = git(repo, "rev-parse", "HEAD")
    pushed = run_nox(repo, nox_envdir, "bake", "--push", "--repo", registry, env=env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert registry_tags(registry, "sas-kernel") >= {"master", base_sha, "v2", "latest"}

    git(repo, "checkout", "-q", "-b", "feature")
    fresh = f"sas {uuid.uuid4().hex}"  # new content: the engine's build cache cannot have it
    write(repo, "images/sas/stage.txt", fresh + "\n")
    sha = commit_all(repo)
    remove_images(engine, registry)  # nothing local: the parent can only come from the registry

    result = run_nox(
        repo,
        nox_envdir,
        "bake",
        "sas",
        "--changed",
        "--base",
        "master",
        "--repo",
        registry,
        env=env,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert f"reusing {registry}/sas-kernel:{base_sha} (the merge base's SHA tag)" in log
    assert list(step_outcomes(log).values()) == ["DONE", "DONE"]  # sas's COPY and RUN
    assert "building sas\n" in result.stderr
    assert chain_in(engine, f"{registry}/sas:{sha}") == f"base\nmid\n{fresh}\nsas_kernel\n"
    for stage in ("base", "mid", "sas-kernel", "jupyterlab-cpu"):
        assert tags_of(engine, f"{registry}/{stage}:feature") == set()
    remove_images(engine, registry)


def test_changed_falls_back_to_the_base_branch_tag_then_to_building(
    engine, registry: str, repo: Path, env, nox_envdir: Path
) -> None:
    built = run_tasks(repo, "bake", "sas", "--push", "--repo", registry, env=env)
    assert built.returncode == 0, built.stderr
    write(repo, "docs/later.txt")  # master moves on without rebuilding anything
    commit_all(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "sas 3\n")
    write(repo, "images/jupyterlab/stage.txt", "lab 3\n")
    remove_images(engine, registry)

    # No image at the new merge base's SHA: the base branch's tag is used, and said so.
    result = run_tasks(repo, "bake", "sas", "--changed", "--repo", registry, env=env)
    assert result.returncode == 0, result.stderr
    assert f"reusing {registry}/sas-kernel:master (the base branch's tag (master)," in (
        result.stderr
    )

    # Another registry namespace holds nothing: the parent chain is built after all.
    empty = registry + "-empty"
    result = run_tasks(repo, "bake", "--changed", "--repo", empty, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "sas-kernel is unchanged but no image of it is in the registry: building it"
        in result.stderr
    )
    assert "building base, mid, sas-kernel, jupyterlab-cpu, sas" in result.stderr
    remove_images(engine, registry)
    remove_images(engine, empty)


def test_a_branch_tag_built_before_the_stage_changed_is_not_reused(
    engine, registry: str, repo: Path, env
) -> None:
    built = run_tasks(repo, "bake", "sas", "--push", "--repo", registry, env=env)
    assert built.returncode == 0, built.stderr
    old = git(repo, "rev-parse", "HEAD")
    # master changes sas-kernel but nobody pushes its image: master's tag is now stale.
    write(repo, "images/sas_kernel/stage.txt", "kernel, changed on master\n")
    commit_all(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "sas on feature\n")
    commit_all(repo)

    result = run_tasks(repo, "bake", "sas", "--changed", "--repo", registry, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        f"{registry}/sas-kernel:master was built from {old[:8]}; sas-kernel changed since: "
        "not reused" in result.stderr
    )
    assert "note: building sas-kernel, sas\n" in result.stderr
    assert chain_in(engine, f"{registry}/sas:feature").count("changed on master") == 1
    remove_images(engine, registry)


def test_changed_parent_built_from_this_commit_comes_from_the_registry(
    engine, registry: str, repo: Path, env
) -> None:
    """CI builds a level at a time: a child's job takes the parent the job before pushed."""
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/mid/stage.txt", f"mid {uuid.uuid4().hex}\n")
    sha = commit_all(repo)
    flags = ("--changed", "--base", "master", "--repo", registry)
    first = run_tasks(repo, "bake", "mid", *flags, "--push", env=env)
    assert first.returncode == 0, first.stderr

    second = run_tasks(repo, "bake", "sas-kernel", *flags, env=env)
    assert second.returncode == 0, second.stderr
    assert f"mid is built already: reusing {registry}/mid:{sha} (this commit's SHA tag" in (
        second.stderr
    )
    assert "building sas-kernel\n" in second.stderr

    # An uncommitted edit: this commit's image of mid is not what these files make.
    write(repo, "images/mid/more.txt")
    third = run_tasks(repo, "bake", "sas-kernel", *flags, env=env)
    assert third.returncode == 0, third.stderr
    assert "mid changed, and uncommitted edits make it another image: building it" in third.stderr
    # (base too, unless an earlier test left base:master in this registry)
    assert re.search(r"^note: building (base, )?mid, sas-kernel$", third.stderr, re.MULTILINE)
    remove_images(engine, registry)


@pytest.mark.serial  # it prunes the engine's whole build cache: nothing may run meanwhile
def test_registry_cache_serves_a_fresh_builder(engine, registry: str, repo: Path, env) -> None:
    """As in CI: a stage built alone on its parent's image from the registry."""
    master = run_tasks(repo, "bake", "sas", "--push", "--repo", registry, env=env)
    assert master.returncode == 0, master.stderr
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", f"sas {uuid.uuid4().hex}\n")
    commit_all(repo)
    flags = ("sas", "--changed", "--base", "master", "--repo", registry, "--registry-cache")
    first = run_tasks(repo, "bake", *flags, "--push", env=env)
    assert first.returncode == 0, first.stderr
    assert "buildcache-feature" in registry_tags(registry, "sas")  # not master's cache
    # A fresh runner: no image, no builder cache. Every step comes from the registry.
    remove_images(engine, registry)
    subprocess.run(["docker", "buildx", "prune", "-af"], check=True, capture_output=True)

    again = run_tasks(repo, "bake", *flags, env=env)
    log = again.stdout + again.stderr
    assert again.returncode == 0, log
    assert f"importing cache manifest from {registry}/sas:buildcache-feature" in log
    steps = [key.split(" ", 1)[0] for key in step_outcomes(log)]
    # CACHED, each; BuildKit may then show the step again as it fetches the cached layer.
    assert steps and all(re.search(rf"^{n} CACHED$", log, re.MULTILINE) for n in steps), log
    remove_images(engine, registry)


def test_changed_with_nothing_changed_builds_nothing(repo: Path, env) -> None:
    result = run_tasks(repo, "bake", "jupyterlab", "--changed", "--base", "master", env=env)
    assert result.returncode == 0, result.stderr
    assert "nothing to build" in result.stderr


def test_print_shows_the_resolved_definition_and_builds_nothing(
    engine, repo: Path, env, registry: str
) -> None:
    result = run_tasks(
        repo,
        "bake",
        "sas",
        "--print",
        "--repo",
        registry,
        "--extra-tag",
        "extra",
        "--base-image",
        "example.org/other:1",
        "--secret",
        "id=sas_storage,env=SAS_STORAGE_KEY",
        env={**env, "SAS_STORAGE_KEY": "a-stand-in-value"},  # an unset VAR is refused
    )
    assert result.returncode == 0, result.stderr
    assert "a-stand-in-value" not in result.stdout + result.stderr
    definition = json.loads(result.stdout)["target"]
    assert set(definition) == {"base", "mid", "sas-kernel", "sas"}
    sha = git(repo, "rev-parse", "HEAD")
    # Another upstream is not this commit's pin: no SHA or release tag names the build.
    assert definition["sas"]["tags"] == [
        f"{registry}/sas:{t}" for t in ("master", f"{sha[:8]}-custom", "extra")
    ]
    assert definition["base"]["args"]["BASE_IMAGE"] == "example.org/other:1"
    assert definition["sas"]["contexts"] == {"sas-kernel": "target:sas-kernel"}
    assert definition["sas"]["labels"]["org.opencontainers.image.revision"] == f"{sha}-custom"
    assert definition["sas"]["secret"] == ["id=sas_storage,env=SAS_STORAGE_KEY"]
    assert tags_of(engine, f"{registry}/sas:{sha}") == set()


def test_raw_flags_after_a_second_double_dash_reach_bake(repo: Path, env, registry: str) -> None:
    result = run_tasks(
        repo,
        "bake",
        "base",
        "--print",
        "--repo",
        registry,
        "--",
        "--set",
        "base.target=final",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["target"]["base"]["target"] == "final"


def test_bake_outside_a_git_repository_uses_fallback_tags(
    engine, registry: str, repo: Path, env, tmp_path: Path
) -> None:
    shutil.rmtree(repo / ".git")
    result = run_tasks(repo, "bake", "base", "--repo", registry, env=env)
    assert result.returncode == 0, result.stderr
    assert "not a git repository" in result.stderr
    assert tags_of(engine, f"{registry}/base:local") == {f"{registry}/base:local"}
    remove_images(engine, registry)


def test_the_invocation_links_parents_named_by_args(tmp_path: Path) -> None:
    """Pure: the bake command line for an args-only chain, a parent built in the same bake
    and a parent taken from the registry."""
    from tasks import settings
    from tasks.docker import bake
    from tasks.planning import plan
    from tasks.stack import bakefile

    text = (
        'target "base" {\n  context = "images/base"\n  tags = ["base"]\n}\n'
        'target "mid" {\n  context = "images/mid"\n  args = { BASE_IMAGE = "base" }\n}\n'
        'target "leaf" {\n  context = "images/leaf"\n  args = { BASE_IMAGE = "mid:latest" }\n}\n'
    )
    graph = bakefile.parse(text, "docker-bake.hcl", {})
    stages = [
        plan.StagePlan(name, "", None, [], False, True, [], plan.Action.BUILD, [f"r/{name}:t"])
        for name in graph.stages
    ]
    the_plan = plan.Plan(None, None, None, "t", None, stages, [], [], [])
    options = bake.BakeOptions()
    config = settings.Settings(root=tmp_path)
    argv = bake.invocation(graph, the_plan, config, ["mid", "leaf"], {"base": "r/base:1"}, options)
    assert "--set=mid.args.BASE_IMAGE=base" in argv
    assert "--set=mid.contexts.base=docker-image://r/base:1" in argv
    assert "--set=leaf.args.BASE_IMAGE=mid" in argv
    assert "--set=leaf.contexts.mid=target:mid" in argv
    assert argv[-2:] == ["mid", "leaf"]
    linked = text.replace(
        'args = { BASE_IMAGE = "mid:latest" }',
        'contexts = { up = "target:mid" }\n  args = { BASE_IMAGE = "mid:latest" }',
    )
    graph = bakefile.parse(linked, "docker-bake.hcl", {})
    argv = bake.invocation(graph, the_plan, config, ["leaf"], {"mid": "r/mid:1"}, options)
    assert "--set=leaf.args.BASE_IMAGE=up" in argv
    assert "--set=leaf.contexts.up=docker-image://r/mid:1" in argv
