"""Credentials reach a build only as BuildKit secrets, and leave no trace in the image.

A throwaway repository shaped like this project (make_stack) gets a base stage that
consumes the `sas_storage` secret through `RUN --mount=type=secret`, as the real
sas-kernel stage does. It is built through the runner exactly as users build:
`bake base --secret id=sas_storage,env=SAS_STORAGE_KEY`, on the real engine. The image
must prove the secret was used (its sha256 and length are in the image), and the value
must appear nowhere: not in `docker history --no-trunc`, `docker inspect`, nor any
byte of `docker save`. A control test builds the original's defect (the credential as
a build ARG) and shows the same search finds it, so the search itself can fail.
Every build uses --no-cache: BuildKit's cache key ignores secrets, so a cached step
would neither read this run's random value nor fail without it.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tasks.tests.support import (
    FIXTURES,
    clean_env,
    commit_all,
    git,
    make_stack,
    remove_images,
    run_tasks,
)

SECRETS = FIXTURES / "secrets"
SECRET_FLAG = "id=sas_storage,env=SAS_STORAGE_KEY"
LABELS = {"io.zone.test": "1", "io.zone.test.suite": "secrets"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack", with_runner=True)


def use_base_dockerfile(repo: Path, fixture: str) -> None:
    """Committed: a build of uncommitted files gets no SHA tag (only `<sha8>-dirty`)."""
    shutil.copy(SECRETS / fixture, repo / "images" / "base" / "Dockerfile")
    commit_all(repo, f"base: {fixture}")


def traces(engine: docker.DockerClient, ref: str) -> dict[str, str]:
    """Everything a registry user can read about an image, as text."""
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Comment}}", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    inspect = subprocess.run(
        ["docker", "inspect", ref], capture_output=True, text=True, check=True
    ).stdout
    saved = b"".join(engine.images.get(ref).save(named=True))
    return {"history": history, "inspect": inspect, "save": saved.decode("latin-1")}


def read_file(engine: docker.DockerClient, ref: str, path: str) -> str:
    output = engine.containers.run(
        ref,
        ["cat", path],
        labels=LABELS,
        name=f"zone-test-secrets-{uuid.uuid4().hex[:8]}",
        network_disabled=True,
        remove=True,
    )
    return output.decode().strip()


def test_a_secret_is_used_by_the_build_and_left_out_of_the_image(
    engine: docker.DockerClient, upstream: str, registry: str, repo: Path
) -> None:
    use_base_dockerfile(repo, "Dockerfile")
    value = secrets.token_urlsafe(24)  # random per run: no false match with anything else
    env = clean_env(UPSTREAM_IMAGE=upstream, SAS_STORAGE_KEY=value)
    try:
        result = run_tasks(
            repo, "bake", "base", "--no-cache", "--repo", registry, "--secret", SECRET_FLAG, env=env
        )
        assert result.returncode == 0, result.stderr
        ref = f"{registry}/base:{git(repo, 'rev-parse', 'HEAD')}"

        # The build really read the secret: its hash and length are in the image.
        assert (
            read_file(engine, ref, "/secret.sha256") == hashlib.sha256(value.encode()).hexdigest()
        )
        assert read_file(engine, ref, "/secret.length") == str(len(value))

        # ...and the value itself is nowhere a registry user could look.
        for where, text in traces(engine, ref).items():
            assert value not in text, f"the secret leaked into {where}"
    finally:
        remove_images(engine, registry)


def test_a_build_without_the_secret_fails(
    engine: docker.DockerClient, upstream: str, registry: str, repo: Path
) -> None:
    # required=true: forgetting --secret is an error, not an image built without it.
    use_base_dockerfile(repo, "Dockerfile")
    env = clean_env(UPSTREAM_IMAGE=upstream)
    try:
        result = run_tasks(repo, "bake", "base", "--no-cache", "--repo", registry, env=env)
        assert result.returncode != 0
        assert "sas_storage" in result.stderr
    finally:
        remove_images(engine, registry)


def test_control_a_credential_as_build_arg_is_found_by_the_same_search(
    engine: docker.DockerClient, upstream: str, registry: str, repo: Path
) -> None:
    # The original's defect: the same search must find a credential passed as an ARG.
    use_base_dockerfile(repo, "Dockerfile.leaky")
    value = secrets.token_urlsafe(24)
    env = clean_env(UPSTREAM_IMAGE=upstream)
    try:
        result = run_tasks(
            repo,
            "bake",
            "base",
            "--no-cache",
            "--repo",
            registry,
            "--",
            "--set",
            f"base.args.SAS_STORAGE_KEY={value}",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        # A raw --set of a build arg is an input the commit does not pin: its own tag.
        ref = f"{registry}/base:{git(repo, 'rev-parse', 'HEAD')[:8]}-custom"
        # The note names the flag by its key, never its value (bake's own log shows it).
        notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
        assert any("raw bake flag --set base.args.SAS_STORAGE_KEY" in n for n in notes)
        assert not any(value in line for line in notes)
        assert read_file(engine, ref, "/secret.used") == "used"
        found = traces(engine, ref)
        assert value in found["history"]
        assert value in found["save"]
    finally:
        remove_images(engine, registry)
