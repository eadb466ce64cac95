"""`nox -s retag` against a real registry that wants a login: tags move, layers do not."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import docker
import pytest
from markdown_it import MarkdownIt

from tasks.tests.support import (
    AuthRegistry,
    clean_env,
    commit_all,
    docker_config,
    git,
    make_stack,
    remove_images,
    run_nox,
    run_tasks,
    write,
)


def _pushed_master_and_feature(folder: Path, upstream: str, registry: AuthRegistry, engine):
    """master's images pushed; a feature branch that changes only the sas leaf."""
    repo = make_stack(folder / "stack", with_runner=True)
    prefix = f"{registry.host}/retag{uuid.uuid4().hex[:6]}"
    login = {registry.host: (registry.user, registry.password)}
    env = clean_env(
        UPSTREAM_IMAGE=upstream,
        DOCKER_CONFIG=str(docker_config(folder / "cfg", login)),
        ZONE_PUSH_ATTEMPTS="2",
        ZONE_PUSH_BACKOFF="0.1",
    )
    built = run_tasks(repo, "bake", "--repo", prefix, "--push", env=env)
    assert built.returncode == 0, built.stderr
    master = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "sas on feature\n")
    sha = commit_all(repo)
    remove_images(engine, prefix)  # a fresh runner: nothing local
    return repo, prefix, env, master, sha


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, upstream: str, auth_registry, engine):
    """One push for the tests that only read the registry (a dry run, refusals, plan): the
    stack's build and push is most of this file's time."""
    pushed = _pushed_master_and_feature(
        tmp_path_factory.mktemp("retag"), upstream, auth_registry, engine
    )
    yield pushed
    remove_images(engine, pushed[1])


@pytest.fixture
def own_setup(tmp_path: Path, upstream: str, auth_registry: AuthRegistry, engine):
    """A push of its own, for the test that retags: the others must not see its tags."""
    pushed = _pushed_master_and_feature(tmp_path, upstream, auth_registry, engine)
    yield pushed
    remove_images(engine, pushed[1])


def test_reused_stages_get_this_commits_tags_without_moving_layers(
    own_setup, auth_registry: AuthRegistry, engine: docker.DockerClient, nox_envdir: Path
) -> None:
    repo, prefix, env, master, sha = own_setup
    namespace = prefix.split("/", 1)[1]
    result = run_nox(repo, nox_envdir, "retag", "--repo", prefix, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for stage in ("base", "mid", "sas-kernel", "jupyterlab-cpu"):
        source = auth_registry.digest(f"{namespace}/{stage}", master)
        for tag in (sha, sha[:8], "feature"):
            assert auth_registry.digest(f"{namespace}/{stage}", tag) == source, (stage, tag)
    assert auth_registry.digest(f"{namespace}/sas", sha) is None  # rebuilt, not retagged
    # Registry-side only: nothing was pulled into the engine.
    local = [t for i in engine.api.images() for t in i.get("RepoTags") or []]
    assert not [t for t in local if t.startswith(prefix)]
    mid = auth_registry.digest(f"{namespace}/mid", master)
    assert any(f"{prefix}/mid" in line and mid in line for line in output.splitlines())
    assert auth_registry.password not in output
    # One progress display for the four workers: through a pipe, one plain line per stage
    # as it is done, counted once each, never interleaved mid-line.
    done = re.findall(r"^retag: (\d)/4 (\S+) \(\d+s\)$", output, re.MULTILINE)
    assert sorted(count for count, _ in done) == ["1", "2", "3", "4"], output
    assert {stage for _, stage in done} == {"base", "mid", "sas-kernel", "jupyterlab-cpu"}


def test_dry_run_says_what_and_tags_nothing(setup, auth_registry: AuthRegistry) -> None:
    repo, prefix, env, master, sha = setup
    result = run_tasks(repo, "retag", "mid", "--repo", prefix, "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert f"mid: {prefix}/mid:{master} (the merge base's SHA tag) -> {sha}" in result.stderr
    assert auth_registry.digest(f"{prefix.split('/', 1)[1]}/mid", sha) is None


def test_a_changed_stage_is_not_retagged(setup) -> None:
    repo, prefix, env, _, _ = setup
    result = run_tasks(repo, "retag", "sas", "--repo", prefix, env=env)
    assert result.returncode == 2
    assert "sas changed since the merge base: build and push it instead" in result.stderr
    assert "nox -s bake -- sas --changed --push" in result.stderr


def test_no_source_image_is_a_clear_failure(setup) -> None:
    repo, prefix, env, master, _ = setup
    result = run_tasks(repo, "retag", "--repo", prefix + "-empty", env=env)
    assert result.returncode == 1
    assert "no image to retag for base, mid, sas-kernel, jupyterlab-cpu" in result.stderr
    assert f"{prefix}-empty/base:{master}" in result.stderr  # where it looked
    assert "Traceback" not in result.stderr


def test_wrong_credentials_are_refused_clearly(
    setup, auth_registry: AuthRegistry, tmp_path: Path
) -> None:
    repo, prefix, env, _, _ = setup
    wrong = {auth_registry.host: (auth_registry.user, "not-the-password")}
    env = {**env, "DOCKER_CONFIG": str(docker_config(tmp_path / "wrong", wrong))}
    result = run_tasks(repo, "retag", "--repo", prefix, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stderr
    assert f"the registry {auth_registry.host} refused access" in result.stderr
    assert f"docker login {auth_registry.host}" in result.stderr


def test_plan_names_the_digest_each_reused_stage_is_taken_from(
    setup, auth_registry: AuthRegistry
) -> None:
    repo, prefix, env, master, _ = setup
    namespace = prefix.split("/", 1)[1]
    summary = repo.parent / "summary.md"
    result = run_tasks(
        repo,
        "plan",
        "--json",
        "--digests",
        "--repo",
        prefix,
        env={**env, "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.returncode == 0, result.stderr
    reused = json.loads(result.stdout)["reused"]
    assert set(reused) == {"base", "mid", "sas-kernel", "jupyterlab-cpu"}
    shown = MarkdownIt("commonmark").enable("table").render(summary.read_text())
    for stage, pinned in reused.items():
        digest = auth_registry.digest(f"{namespace}/{stage}", master)
        assert pinned == f"{prefix}/{stage}@{digest}", stage
        assert f"{stage}: reused from {prefix}/{stage}:{master}: {pinned}" in result.stderr
        assert pinned in shown  # the job summary, as GitHub renders its Markdown
