"""`release-notes`: two releases of the fixture stack pushed (signed, with SBOMs) to a real
registry; the second adds a pip package and a file of known size to sas. The notes come
from the registry alone: manifests, configs and the signed SBOM attestations (or syft)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tasks.tests.e2e.test_signing import PASSWORD, key_pair
from tasks.tests.support import (
    clean_env,
    commit_all,
    git,
    make_stack,
    manifest_layers,
    remove_images,
    run_tasks,
    write,
)

STAGES = ("base", "mid", "sas-kernel", "jupyterlab-cpu", "sas")
BLOB_BYTES = 200_000  # random: it compresses to about its own size
SITE = "usr/lib/python3/site-packages"


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory, upstream: str, registry: str, engine):  # type: ignore[no-untyped-def]
    """Release v2026.12.01 (the fixture stack), then a master commit whose sas adds
    zone-demo-pkg 1.2.3 and blob.bin: both pushed and signed, every stage under its SHA."""
    tmp_path = tmp_path_factory.mktemp("notes")
    repo = make_stack(tmp_path / "stack")
    # Contents of this module's own: BuildKit's cache may hold several results for the
    # fixture stack's steps (other tests build it too) and can pick another for sas's
    # chain than for jupyterlab-cpu's; a unique base gives each step one result.
    write(repo, "images/base/stage.txt", f"base of {uuid.uuid4().hex}\n")
    commit_all(repo, "a base of this module's own")
    keys = key_pair(tmp_path / "keys", "release")
    prefix = f"{registry}/notes{uuid.uuid4().hex[:6]}"
    env = clean_env(
        UPSTREAM_IMAGE=upstream,
        ZONE_PUSH_ATTEMPTS="2",
        ZONE_PUSH_BACKOFF="0.1",
        ZONE_SIGNING_KEY=keys.private_key,
        ZONE_VERIFY_KEY=keys.public_key,
        COSIGN_PASSWORD=PASSWORD,
        ZONE_SBOM_CACHE=str(tmp_path / "sbom"),
    )
    _ok(run_tasks(repo, "bake", "--repo", prefix, env=env))
    _ok(run_tasks(repo, "push", *STAGES, "--repo", prefix, env=env))
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v2026.12.01")
    info = repo / "images" / "sas" / "site" / "zone_demo_pkg-1.2.3.dist-info"
    write(repo, str(info.relative_to(repo) / "METADATA"), "Name: zone-demo-pkg\nVersion: 1.2.3\n")
    write(repo, str(info.relative_to(repo) / "RECORD"), "zone_demo_pkg/__init__.py,,\n")
    (repo / "images" / "sas" / "blob.bin").write_bytes(os.urandom(BLOB_BYTES))
    dockerfile = repo / "images" / "sas" / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text() + f"COPY site/ /{SITE}/\nCOPY blob.bin /opt/blob.bin\n"
    )
    second = commit_all(repo, "sas: a package and a blob")
    _ok(run_tasks(repo, "bake", "--repo", prefix, env=env))
    _ok(run_tasks(repo, "push", *STAGES, "--repo", prefix, env=env))
    yield repo, prefix, env, first, second
    remove_images(engine, prefix)


def _notes(repo: Path, prefix: str, env: dict[str, str], *args: str) -> tuple[str, str]:
    result = run_tasks(repo, "release-notes", "--repo", prefix, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, result.stderr


def _sas_layers(prefix: str, sha: str) -> list[dict]:
    host, namespace = prefix.split("/", 1)
    return manifest_layers(host, f"{namespace}/sas", sha)


def _cells(markdown: str) -> list[list[str]]:
    """Every table row of the rendered notes, as the text of its cells."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content.replace("\\", ""))
        elif token.type == "tr_close":
            rows.append(row)
            row = None
    return rows


def test_the_notes_name_the_new_package_and_layer_against_the_previous_release(releases) -> None:  # type: ignore[no-untyped-def]
    repo, prefix, env, first, second = releases
    notes, stderr = _notes(repo, prefix, env)
    assert f"against v2026.12.01 ({first[:12]})" in stderr
    assert "Packages from the signed SBOM attestation of each image" in notes.replace("\\", ""), (
        notes
    )
    rows = _cells(notes)
    blob = _sas_layers(prefix, second)[-1]  # COPY blob.bin: the last layer
    site = _sas_layers(prefix, second)[-2]
    by_image = {row[0]: row for row in rows if row and row[0] in STAGES}
    assert set(by_image) == {"jupyterlab-cpu", "sas"}  # the served images
    assert by_image["jupyterlab-cpu"][1] == "0 B"  # nothing of it changed
    new_bytes = blob["size"] + site["size"]
    assert by_image["sas"][1].startswith(f"{new_bytes / 1000:.2f} kB")
    assert by_image["sas"][4] == "2 / 10"  # new / shared layers
    assert any(
        row[:2] == [f"{blob['size'] / 1000:.2f} kB", "COPY blob.bin /opt/blob.bin"] for row in rows
    )
    assert ["added", "python", "zone-demo-pkg 1.2.3"] in rows
    assert not any(row[:2] == ["removed", "python"] for row in rows)
    assert "budget" not in notes


def test_a_first_release_has_absolute_figures_and_the_syft_scan_without_a_key(
    releases, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    repo, prefix, env, _, _ = releases
    unverified = {k: v for k, v in env.items() if k != "ZONE_VERIFY_KEY"}
    output = tmp_path / "notes.md"
    released = ("--commit", "v2026.12.01")  # the first release's commit; HEAD is the second
    _, stderr = _notes(repo, prefix, unverified, "sas", *released, "--output", str(output))
    notes = output.read_text()
    assert "a first release" in stderr and "No previous release" in notes
    assert "Packages from a syft scan of each image" in notes.replace("\\", "")
    rows = _cells(notes)
    assert [row[0] for row in rows if row and row[0] in STAGES] == ["sas"]
    assert any(row[:2] == ["added", "binary"] and row[2].startswith("busybox") for row in rows)


def test_bad_input_is_one_message(releases, tmp_path) -> None:  # type: ignore[no-untyped-def]
    repo, prefix, env, *_ = releases
    missing = run_tasks(repo, "release-notes", "--repo", prefix, "--tag", "nope", env=env)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert f"{prefix}/jupyterlab-cpu:nope is not in the registry" in missing.stderr
    for flag in ("--previous", "--commit"):
        unknown = run_tasks(repo, "release-notes", "--repo", prefix, flag, "v1999", env=env)
        assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
        assert f"{flag} 'v1999' names no commit here" in unknown.stderr
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    refused = run_tasks(shallow, "release-notes", "--repo", prefix, env=env)
    assert refused.returncode != 0 and "need the whole history" in refused.stderr
    folder = run_tasks(repo, "release-notes", "--repo", prefix, "--output", str(tmp_path), env=env)
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    # A file in a folder that is not there: one message before any work, exit 2.
    target = tmp_path / "missing" / "notes.md"
    failed = run_tasks(repo, "release-notes", "--repo", prefix, "--output", str(target), env=env)
    assert failed.returncode == 2 and "missing does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr and not target.parent.exists()
