"""`nox -s push` against a real registry that wants a login (docker-registry + htpasswd)."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.tests.registry_proxy import CuttingProxy
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

ATTEMPTS = 3  # tries per tag in these tests; the waits between them are short


@pytest.fixture
def namespace(engine: docker.DockerClient, auth_registry: AuthRegistry) -> str:
    name = f"push{uuid.uuid4().hex[:6]}"
    yield name
    for port in {auth_registry.port, *_proxied}:
        remove_images(engine, f"127.0.0.1:{port}/{name}")


_proxied: set[int] = set()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack", with_runner=True)


@pytest.fixture(scope="module")
def baked(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: str,
    auth_registry: AuthRegistry,
    engine: docker.DockerClient,
) -> Iterator[tuple[Path, str, str]]:
    """sas baked once under a namespace of its own, for the tests that push nothing (a
    dry run, refused logins): each checks that the registry still has no tag of it."""
    folder = tmp_path_factory.mktemp("push")
    repo = make_stack(folder / "stack", with_runner=True)
    name = f"push{uuid.uuid4().hex[:6]}"
    prefix = f"{auth_registry.host}/{name}"
    _bake(repo, prefix, _env(upstream, docker_config(folder / "cfg", {})))
    yield repo, name, prefix
    remove_images(engine, prefix)


def _env(upstream: str, config: Path | None) -> dict[str, str]:
    env = clean_env(
        UPSTREAM_IMAGE=upstream, ZONE_PUSH_ATTEMPTS=str(ATTEMPTS), ZONE_PUSH_BACKOFF="0.2"
    )
    if config:
        env["DOCKER_CONFIG"] = str(config)
    return env


def _bake(repo: Path, prefix: str, env: dict[str, str]) -> None:
    result = run_tasks(repo, "bake", "sas", "--repo", prefix, env=env)
    assert result.returncode == 0, result.stderr


def _login(config: Path, registry: AuthRegistry, host: str) -> None:
    """`docker login`, as users and CI's login step do."""
    subprocess.run(
        ["docker", "--config", str(config), "login", host, "-u", registry.user, "--password-stdin"],
        input=registry.password,
        text=True,
        capture_output=True,
        check=True,
    )


def _pushed_in_order(output: str) -> list[str]:
    return re.findall(r"pushing \S+:(\S+)", output)


def test_push_sends_every_tag_in_order_with_one_digest(
    repo: Path,
    upstream: str,
    auth_registry: AuthRegistry,
    namespace: str,
    nox_envdir: Path,
    tmp_path: Path,
    engine: docker.DockerClient,
) -> None:
    prefix = f"{auth_registry.host}/{namespace}"
    config = docker_config(tmp_path / "docker-config", {})
    _login(config, auth_registry, auth_registry.host)
    env = _env(upstream, config)
    _bake(repo, prefix, env)
    sha = git(repo, "rev-parse", "HEAD")

    result = run_nox(repo, nox_envdir, "push", "sas", "--repo", prefix, env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert _pushed_in_order(output) == [sha, sha[:8], "master", "v2", "latest"]
    local = engine.images.get(f"{prefix}/sas:{sha}")
    served = {
        tag: auth_registry.digest(f"{namespace}/sas", tag) for tag in _pushed_in_order(output)
    }
    assert len(set(served.values())) == 1 and None not in served.values(), served
    assert auth_registry.tags(f"{namespace}/sas") == set(served)
    digest = next(iter(served.values()))
    assert digest in output  # the final table names the digest the registry serves
    assert local.id  # still local: pushing leaves the engine's images alone
    assert auth_registry.password not in output
    # Only the named image goes up: its parents stay local.
    assert auth_registry.tags(f"{namespace}/sas-kernel") == set()


def test_dry_run_lists_the_order_and_pushes_nothing(
    baked: tuple[Path, str, str], upstream: str, auth_registry: AuthRegistry, tmp_path: Path
) -> None:
    repo, namespace, prefix = baked
    env = _env(upstream, docker_config(tmp_path / "cfg", {}))  # no login needed to list
    sha = git(repo, "rev-parse", "HEAD")

    result = run_tasks(repo, "push", "sas_kernel", "sas", "--repo", prefix, "--dry-run", env=env)

    assert result.returncode == 0, result.stderr
    order = [sha, sha[:8], "master", "v2", "latest"]
    expected = [f"{prefix}/{stage}:{tag}" for stage in ("sas-kernel", "sas") for tag in order]
    assert result.stdout.split() == expected
    assert auth_registry.tags(f"{namespace}/sas") == set()


@pytest.mark.parametrize("login", ["none", "wrong password"])
def test_without_valid_credentials_push_fails_clearly(
    login: str,
    baked: tuple[Path, str, str],
    upstream: str,
    auth_registry: AuthRegistry,
    tmp_path: Path,
) -> None:
    repo, namespace, prefix = baked
    wrong = f"wrong-{uuid.uuid4().hex}"
    logins = {auth_registry.host: (auth_registry.user, wrong)} if login != "none" else {}
    env = _env(upstream, docker_config(tmp_path / "cfg", logins))

    result = run_tasks(repo, "push", "sas", "--repo", prefix, env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # The engine reports this inside an HTTP 200 stream: the SDK raises nothing for it.
    assert f"the registry {auth_registry.host} refused access" in output
    assert f"docker login {auth_registry.host}" in output
    assert "pushed: nothing" in output
    assert "try 2" not in output  # a refusal is not retried: a login is needed, not time
    assert "Traceback" not in output
    assert wrong not in output and auth_registry.password not in output
    assert auth_registry.tags(f"{namespace}/sas") == set()


def test_registry_going_down_part_way_never_moves_latest(
    repo: Path,
    upstream: str,
    auth_registry: AuthRegistry,
    namespace: str,
    tmp_path: Path,
    engine: docker.DockerClient,
) -> None:
    proxy = CuttingProxy(auth_registry.port)
    _proxied.add(proxy.port)
    try:
        prefix = f"127.0.0.1:{proxy.port}/{namespace}"
        config = docker_config(tmp_path / "docker-config", {})
        _login(config, auth_registry, f"127.0.0.1:{proxy.port}")
        env = _env(upstream, config)
        # Yesterday's image: every tag pushed, latest included.
        _bake(repo, prefix, env)
        first = run_tasks(repo, "push", "sas", "--repo", prefix, env=env)
        assert first.returncode == 0, first.stderr
        name = f"{namespace}/sas"
        old = auth_registry.digest(name, "latest")
        # Today's: a change to the leaf; the registry goes down after the two SHA tags.
        write(repo, "images/sas/today.txt", "today\n")
        sha = commit_all(repo, "today's change")
        _bake(repo, prefix, env)
        proxy.arm(allowed=2)

        result = run_tasks(repo, "push", "sas", "--repo", prefix, env=env)
    finally:
        proxy.close()

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert proxy.tags == [sha, sha[:8]]
    new = auth_registry.digest(name, sha)
    assert new and new != old
    assert auth_registry.digest(name, sha[:8]) == new
    # latest, v2 and the branch tag still name yesterday's image.
    for moving in ("latest", "v2", "master"):
        assert auth_registry.digest(name, moving) == old, moving
    # Bounded retries, then an honest account.
    assert len(re.findall(r"try \d of 3", output)) == ATTEMPTS - 1
    assert f"pushing {prefix}/sas:master failed after {ATTEMPTS} tries" in output
    pushed_line = next(line for line in output.splitlines() if line.startswith("pushed:"))
    assert pushed_line == f"pushed: {prefix}/sas:{sha}, {prefix}/sas:{sha[:8]}"
    not_pushed = next(line for line in output.splitlines() if line.startswith("not pushed:"))
    assert all(f"sas:{tag}" in not_pushed for tag in ("master", "v2", "latest"))
    assert "Traceback" not in output


def test_an_image_not_built_gets_the_bake_command(
    repo: Path, upstream: str, auth_registry: AuthRegistry, namespace: str, tmp_path: Path
) -> None:
    prefix = f"{auth_registry.host}/{namespace}"
    env = _env(upstream, docker_config(tmp_path / "cfg", {}))
    result = run_tasks(repo, "push", "jupyterlab", "--repo", prefix, env=env)
    assert result.returncode == 2, result.stderr
    assert "is not in the local Docker engine" in result.stderr
    assert "nox -s bake -- jupyterlab-cpu" in result.stderr
    assert "Traceback" not in result.stderr
