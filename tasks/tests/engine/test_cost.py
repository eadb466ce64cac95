"""`cost`: pull cost, package diff and budget, against a real registry, real syft and real
buildx builds of tiny images over the busybox fixture upstream."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tasks import cost, sbom, settings, shape
from tasks.console import ZoneError
from tasks.layers import Image, Layer
from tasks.tests.cli.test_errors import assert_one_clear_error
from tasks.tests.support import (
    MANIFEST_TYPES,
    clean_env,
    docker_config,
    make_stack,
    remove_images,
    run_tasks,
)

PACKAGE = ("python", "zone-demo-pkg", "1.2.3")
BLOB_BYTES = 300_000  # random, so its compressed size is about the same
SITE = "usr/lib/python3/site-packages"


# --- units: sizes, budgets, the package diff, the comparison --------------------------


def test_sizes_parse_in_decimal_and_binary_units() -> None:
    assert settings.parse_size("1.5 GB", "x") == 1_500_000_000
    assert settings.parse_size("800MiB", "x") == 800 * 2**20
    assert settings.parse_size(1000, "x") == 1000
    assert settings.parse_size("none", "x") is None
    with pytest.raises(ZoneError, match=r"x must be a size, not '1\.5 elephants'"):
        settings.parse_size("1.5 elephants", "x")


def test_pull_budget_table_and_environment_default(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.zone]\npull-budget = { jupyterlab-cpu = "1.5 GB", default = "500 MB" }\n'
    )
    monkeypatch.delenv("ZONE_PULL_BUDGET", raising=False)
    loaded = settings.load(tmp_path)
    assert loaded.budget("jupyterlab-cpu") == 1_500_000_000
    assert loaded.budget("sas") == 500_000_000
    monkeypatch.setenv("ZONE_PULL_BUDGET", "2 GB")  # the default only
    loaded = settings.load(tmp_path)
    assert (loaded.budget("jupyterlab-cpu"), loaded.budget("sas")) == (1_500_000_000, 2 * 10**9)


def test_a_bad_pull_budget_names_its_setting(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.zone]\npull-budget = { sas = "lots" }\n')
    monkeypatch.delenv("ZONE_PULL_BUDGET", raising=False)
    with pytest.raises(
        ZoneError, match=r"pyproject\.toml:2: setting \[tool\.zone\] pull-budget\.sas"
    ):
        settings.load(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setenv("ZONE_PULL_BUDGET", "-3")
    with pytest.raises(ZoneError, match="environment variable ZONE_PULL_BUDGET must be a size"):
        settings.load(tmp_path)


def test_package_diff_by_type_and_name() -> None:
    before = frozenset({sbom.Package("deb", "curl", "7"), sbom.Package("python", "six", "1")})
    after = frozenset({sbom.Package("deb", "curl", "8"), sbom.Package("npm", "left-pad", "1")})
    found = sbom.diff(before, after)
    assert found.added == (sbom.Package("npm", "left-pad", "1"),)
    assert found.removed == (sbom.Package("python", "six", "1"),)
    assert found.changed == ((sbom.Package("deb", "curl", "7"), sbom.Package("deb", "curl", "8")),)


def test_a_layer_compressed_anew_is_pulled_again() -> None:
    """Same diff_id, another blob in the registry: a node pulls it, at the new blob's size."""
    here = Image("x:1", "sha256:a", "", (Layer("sha256:d1", "RUN a", uncompressed=50),))
    pushed = Image("x:1", "sha256:a", "", (Layer("sha256:d1", "", 20, blob="sha256:b2"),))
    release = Image("x:v2", "sha256:r", "", (Layer("sha256:d1", "", 30, blob="sha256:b1"),))
    (layer,) = cost.compare(here, pushed, {}, release, None)
    assert (layer.status, layer.compressed, layer.size_from) == (cost.NEW, 20, cost.IMAGE)
    (layer,) = cost.compare(here, None, {}, release, None)  # not pushed: by diff_id
    assert (layer.status, layer.compressed, layer.size_from) == (cost.SHARED, 30, cost.RELEASE)
    cached = {"sha256:d1": Layer("sha256:d1", "", 25, blob="sha256:b3")}
    (layer,) = cost.compare(here, None, cached, release, None)  # the build cache's blob
    assert (layer.status, layer.compressed, layer.size_from) == (cost.NEW, 25, cost.CACHE)


# --- real images, registry and syft ---------------------------------------------------


def _build(context: Path, dockerfile: str, ref: str, cache_to: str = "") -> None:
    (context / "Dockerfile").write_text(dockerfile)
    cache = ["--cache-to", cache_to] if cache_to else []
    subprocess.run(
        ["docker", "buildx", "build", "--load", "-q", *cache, "-t", ref, str(context)],
        check=True,
        capture_output=True,
        env={**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"},
    )


def _push(ref: str) -> None:
    subprocess.run(["docker", "push", "-q", ref], check=True, capture_output=True)


@pytest.fixture(scope="module")
def images(engine, registry: str, upstream: str, tmp_path_factory) -> dict[str, str]:
    """REPO/base:v2 (the release: upstream + one shared file) in the registry, and
    REPO/base:new over it with a pip package's dist-info and a file of known size, each
    in its own layer; REPO/mid:new is built over it (a stage and its parent). REPO is a
    namespace of this module's own: other tests push stages (mid:v2 too) to the registry."""
    registry = f"{registry}/cost{uuid.uuid4().hex[:6]}"
    folder = tmp_path_factory.mktemp("cost-images")
    (folder / "shared.txt").write_text("shared by the release and the new image\n")
    release = f"{registry}/base:v2"
    _build(folder, f"FROM {upstream}\nCOPY shared.txt /etc/shared.txt\n", release)
    _push(release)
    info = folder / "site" / "zone_demo_pkg-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zone-demo-pkg\nVersion: 1.2.3\n")
    (info / "RECORD").write_text("zone_demo_pkg/__init__.py,,\n")
    (folder / "blob.bin").write_bytes(os.urandom(BLOB_BYTES))
    new = f"{registry}/base:new"
    _build(
        folder,
        f"FROM {release}\nCOPY site /{SITE}/\nCOPY blob.bin /opt/blob.bin\n",
        new,
    )
    _push(new)
    (folder / "mid.txt").write_text("mid's own file\n")
    _build(folder, f"FROM {new}\nCOPY mid.txt /etc/mid.txt\n", f"{registry}/mid:new")
    # Only built, never pushed: its new layer is in no registry.
    _build(folder, f"FROM {new}\nCOPY mid.txt /etc/mid.txt\n", f"{registry}/base:local")
    # Built with a registry build cache (as bake --registry-cache writes, for the branch
    # master of the test's stack), not pushed: its new layer's blob is in that cache.
    (folder / "cached.txt").write_text("only in the build cache\n")
    cache = f"type=registry,ref={registry}/base:buildcache-master,mode=max"
    _build(
        folder, f"FROM {new}\nCOPY cached.txt /etc/cached.txt\n", f"{registry}/base:cached", cache
    )
    return {"repo": registry, "release": release, "new": new}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_stack(tmp_path / "stack")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(ZONE_SBOM_CACHE=str(tmp_path / "sbom"), **extra)


def _manifest(repo_prefix: str, name: str, reference: str) -> dict:
    """NAME:REFERENCE's manifest (or index), read from the registry's API directly."""
    host, namespace = repo_prefix.split("/", 1)
    url = f"http://{host}/v2/{namespace}/{name}/manifests/{reference}"
    request = urllib.request.Request(url, headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _manifest_layers(repo_prefix: str, name: str, tag: str) -> list[dict]:
    """The layers (digest, size) of NAME:TAG's linux/amd64 image."""
    manifest = _manifest(repo_prefix, name, tag)
    if "manifests" in manifest:
        manifest = _manifest(repo_prefix, name, manifest["manifests"][0]["digest"])
    return manifest["layers"]


def test_cost_names_the_package_the_new_layer_and_the_shared_ones(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "new", "--json", env=_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    assert found["against"] == images["release"] and not found["first_release"]
    added = {(p["kind"], p["name"], p["version"]) for p in found["packages"]["added"]}
    assert added == {PACKAGE}
    assert found["packages"]["removed"] == [] and found["packages"]["changed"] == []
    layers = found["layers"]
    assert [layer["status"] for layer in layers] == ["shared", "shared", "new", "new"]
    blob = layers[-1]
    assert blob["instruction"] == "COPY blob.bin /opt/blob.bin"
    registry_sizes = [layer["size"] for layer in _manifest_layers(images["repo"], "base", "new")]
    assert [layer["compressed"] for layer in layers] == registry_sizes
    assert blob["compressed"] > BLOB_BYTES * 0.9 and blob["uncompressed"] >= BLOB_BYTES
    assert found["new_pull_bytes"] == sum(registry_sizes[2:])
    assert found["new_pull_bytes_estimated"] is False
    assert "zone-demo-pkg 1.2.3" in result.stderr and "added" in result.stderr
    # The SBOMs are cached by digest: the release's and the new image's, made once, each
    # as its packages and as the SPDX document push attaches.
    cached = sorted(p.name for p in (tmp_path / "sbom").iterdir())
    assert len(cached) == 4 and all(name.startswith("sha256-") for name in cached)
    assert len([name for name in cached if name.endswith(".spdx.json")]) == 2
    summary_file = tmp_path / "summary.md"
    again = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "new", "--json",
        env=_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary_file)),
    )  # fmt: skip
    assert json.loads(again.stdout) == [found]
    # The job summary: the pull cost table, the largest new layers, the packages folded.
    html = MarkdownIt("commonmark").enable("table").render(summary_file.read_text())
    assert "<h3>Pull cost (against the release)</h3>" in html
    assert f"<td>{cost.size(found['new_pull_bytes'])}</td>" in html
    assert "<td>COPY blob.bin /opt/blob.bin</td>" in html
    assert "<details><summary>base: package changes (1)</summary>" in html
    assert "<td>added</td>\n<td>python</td>\n<td>zone-demo-pkg 1.2.3</td>" in html


def test_the_largest_new_layers_are_drawn_and_the_json_is_untouched(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    args = ("cost", "base", "--repo", images["repo"], "--tag", "new", "--no-packages", "--json")
    plain = run_tasks(repo, *args, env=_env(tmp_path))
    summary_file = tmp_path / "summary.md"
    drawn = run_tasks(repo, *args, env=_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary_file)))
    assert plain.returncode == drawn.returncode == 0, drawn.stderr
    # stdout is the JSON document alone, byte for byte the same with a job summary or not.
    (found,) = json.loads(drawn.stdout)
    assert drawn.stdout == plain.stdout == json.dumps([found], indent=2) + "\n"
    new = [layer for layer in found["layers"] if layer["status"] == "new"]
    blob = max(new, key=lambda layer: layer["compressed"])
    assert blob["instruction"] == "COPY blob.bin /opt/blob.bin"
    # The terminal (a pipe here): each new layer's bar, plain characters, no escape; the
    # blob layer is nearly all of it.
    assert "\x1b" not in drawn.stderr
    line = next(x for x in drawn.stderr.splitlines() if "COPY blob.bin /opt/blob.bin" in x)
    share = round(blob["compressed"] * 100 / found["new_pull_bytes"])
    assert f"{share} %" in line and "█" * 10 in line
    assert sum("%" in x and ("█" in x or "▏" in x) for x in drawn.stderr.splitlines()) == len(new)
    # The job summary: after the table of the largest new layers, their Mermaid chart,
    # in the registry's compressed sizes and in the table's order.
    markdown = summary_file.read_text()
    chart = markdown[markdown.index("```mermaid") :]
    chart = chart[: chart.index("```", 3) + 3]
    assert markdown.index("largest new layers") < markdown.index("```mermaid")
    assert markdown.count("```mermaid") == 1
    layers = sorted(new, key=lambda layer: -layer["compressed"])
    expected = cost.chart(
        cost.Cost(
            "base", "", "", None, tuple(cost.LayerCost(**layer) for layer in found["layers"])
        ),
        5,
    )
    assert chart == expected
    assert '"1: COPY blob.bin /opt/blob.bin"' in chart
    assert f"{layers[0]['compressed'] / 1000:.2f}" in chart  # kB: the blob is ~300 kB


def test_cost_of_a_stage_says_what_its_parent_brings(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    result = run_tasks(
        repo, "cost", "mid", "--repo", images["repo"], "--tag", "new", "--json",
        "--no-packages", env=_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    # No mid:v2 in the registry: a first release of mid, every layer new.
    assert found["first_release"] is True and found["packages"] is None
    assert [layer["origin"] for layer in found["layers"]] == ["parent"] * 4 + ["own"]
    assert "its parent stage brings 4 layers, it adds 1" in result.stderr


def test_a_layer_no_registry_holds_is_estimated_and_said_so(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "local", "--json",
        "--no-packages", env=_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    # Its last layer is in no registry (nor in the build cache of base:cached, which may
    # hold the layers below it): only its uncompressed size is known.
    new = [layer for layer in found["layers"] if layer["status"] == "new"]
    assert len(new) == 3
    assert new[-1]["compressed"] is None and new[-1]["size_from"] == ""
    assert found["new_pull_bytes_estimated"] is True
    assert found["new_pull_bytes"] == sum(
        layer["compressed"] if layer["compressed"] is not None else layer["uncompressed"]
        for layer in new
    )
    assert "estimated: uncompressed size of layers no registry holds yet" in result.stderr


def test_a_layer_in_the_build_cache_has_its_compressed_size(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "cached", "--json",
        "--no-packages", env=_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    last = found["layers"][-1]
    assert (last["status"], last["size_from"]) == ("new", "build cache")
    index = _manifest(images["repo"], "base", "buildcache-master")
    by_diff_id = {
        entry["annotations"]["containerd.io/uncompressed"]: entry["size"]
        for entry in index["manifests"]
        if "containerd.io/uncompressed" in entry.get("annotations", {})
    }
    assert last["compressed"] == by_diff_id[last["diff_id"]]
    assert "(build cache)" in result.stderr


def test_the_budget_fails_above_and_passes_below(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    args = ("cost", "base", "--repo", images["repo"], "--tag", "new", "--no-packages")
    over = run_tasks(repo, *args, env=_env(tmp_path, ZONE_PULL_BUDGET="100 kB"))
    assert over.returncode == 1
    errors = [line for line in over.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, over.stderr
    assert "base adds" in errors[0] and "over its pull budget of 100.00 kB" in errors[0]
    assert "COPY blob.bin /opt/blob.bin" in errors[0]
    assert "pull-budget-accepted" in over.stderr and "Traceback" not in over.stderr
    let_through = run_tasks(
        repo, *args, "--allow-over-budget", env=_env(tmp_path, ZONE_PULL_BUDGET="100 kB")
    )
    assert let_through.returncode == 0 and "let through" in let_through.stderr
    under = run_tasks(repo, *args, env=_env(tmp_path, ZONE_PULL_BUDGET="10 MB"))
    assert under.returncode == 0, under.stderr
    assert "pull budget: 10.00 MB (within)" in under.stderr


def test_a_first_release_reports_absolute_figures_and_passes(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    """The default release tag (version-tag) is not there yet: a first release."""
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "new", "--json",
        env=_env(tmp_path, ZONE_PULL_BUDGET="1 kB", ZONE_VERSION_TAG="v9"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    assert found["first_release"] is True and found["over_budget"] is False
    assert found["new_pull_bytes"] == found["compressed_bytes"] > BLOB_BYTES
    assert "is not in the registry: a first release" in result.stderr
    added = {(p["kind"], p["name"], p["version"]) for p in found["packages"]["added"]}
    assert PACKAGE in added


def test_against_a_release_that_is_not_there_is_an_error(
    images: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    """It read as a first release, and the budget was skipped."""
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "new", "--against", "v9",
        "--no-packages", env=_env(tmp_path, ZONE_PULL_BUDGET="1 kB"),
    )  # fmt: skip
    assert_one_clear_error(
        result, f"--against v9: {images['repo']}/base:v9 is not in the registry",
        "leave --against off to compare with v2",
    )  # fmt: skip


@pytest.mark.parametrize(
    "damage",
    [
        '{"packages": [["python", 1, "1.0"], ["deb", "x", "2"]]}',  # was: '<' not supported
        '{"packages": [["python", "x"]]}',
        '{"packages": 5}',
        "[1, 2]",
        '{"packages": [["python", "x", "1.0"]',  # cut short
        "",
    ],
)
def test_a_damaged_cache_entry_is_discarded(tmp_path: Path, damage: str) -> None:
    entry = tmp_path / "sha256-entry.json"
    entry.write_text(damage)
    assert sbom._read_cached(entry, sbom._packages_of) is None
    assert not entry.exists()  # made again by the scan that follows
    entry.write_text('{"packages": [["python", "x", "1.0"]]}')
    assert sbom._read_cached(entry, sbom._packages_of) == {sbom.Package("python", "x", "1.0")}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([1, 2], "the SPDX document is an array, not an object"),
        ({"packages": []}, "the SPDX document has no 'spdxVersion'"),
        ({"spdxVersion": "SPDX-2.3", "packages": 5}, "its 'packages' is an integer"),
        ({"spdxVersion": "SPDX-2.3", "packages": [{"name": 5}]}, "'name' is an integer"),
        (
            {"spdxVersion": "SPDX-2.3", "packages": [{"externalRefs": [5]}]},
            "its 'packages'[0]'s refs[0] is an integer, not an object",
        ),
    ],
)
def test_an_spdx_document_of_another_shape_is_malformed(document: object, expected: str):
    """An attested SBOM is read from the registry: each field checked, never an
    AttributeError."""
    with pytest.raises(shape.Malformed, match=re.escape(expected)):
        sbom.from_spdx(document)


def test_damaged_sbom_cache_entries_are_made_again(
    engine, images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real scan (syft) replaces both entries of an image: its packages, and the SPDX
    document that push attaches."""
    monkeypatch.setenv(sbom.CACHE_ENV, str(tmp_path / "sbom"))
    source, digest = f"docker:{images['new']}", engine.images.get(images["new"]).id
    packages, document = sbom._cached(source, digest)
    packages.parent.mkdir(parents=True)
    packages.write_text('{"packages": [["python", 1, "1.0"], ["deb", "x", "2"]]}')
    document.write_text('{"spdxVersion": "SPDX-2.3", "packages": [{"name": 5}]}')
    found, from_cache = sbom.packages(source, digest)
    assert not from_cache and sbom.Package(*PACKAGE) in found
    assert sbom.packages(source, digest) == (found, True)  # the entry made again is read
    assert sbom.spdx_document(source, digest) == document
    assert sbom.Package(*PACKAGE) in sbom.from_spdx(json.loads(document.read_text()))


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 kB tmpfs that a file has filled (the suite runs as root)."""
    mount = tmp_path / "full"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        (mount / "sbom").mkdir()
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            filler.write(b"\0" * 256 * 1024)
        assert shutil.disk_usage(mount).free == 0
        yield mount / "sbom"
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_cache_on_a_full_disk_is_said_and_skipped(
    images: dict[str, str], repo: Path, tmp_path: Path, full_disk: Path
) -> None:
    """It read as "syft could not read the image"."""
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "new", "--json",
        env=clean_env(ZONE_SBOM_CACHE=str(full_disk)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "syft could not read" not in result.stderr and "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())
    assert said.count(f"warning: the SBOM cache {full_disk} cannot keep this SBOM") == 1, said
    assert "(its disk is full): going on without the cache" in said
    (found,) = json.loads(result.stdout)
    added = {(p["kind"], p["name"], p["version"]) for p in found["packages"]["added"]}
    assert added == {PACKAGE}
    assert list(full_disk.iterdir()) == []  # nothing half-written left behind


def test_an_image_not_built_is_one_message(images: dict[str, str], repo: Path, tmp_path) -> None:
    result = run_tasks(
        repo, "cost", "base", "--repo", images["repo"], "--tag", "never-built", env=_env(tmp_path)
    )
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert f"{images['repo']}/base:never-built is not in the local Docker engine" in result.stderr
    assert "nox -s bake -- base" in result.stderr


def test_a_bad_against_is_one_message(repo: Path, tmp_path: Path) -> None:
    result = run_tasks(repo, "cost", "base", "--against", "not a tag", env=_env(tmp_path))
    assert result.returncode == 2
    assert "--against 'not a tag' is neither a tag nor a digest" in result.stderr


def test_a_registry_that_refuses_is_one_message(
    engine, auth_registry, upstream: str, repo: Path, tmp_path: Path
) -> None:
    """A registry that wants a login, and no login: one message that says to log in."""
    prefix = f"{auth_registry.host}/zt{uuid.uuid4().hex[:6]}"
    _build(tmp_path, f"FROM {upstream}\nCOPY Dockerfile /etc/x\n", f"{prefix}/base:new")
    try:
        config = docker_config(tmp_path / "docker-config", {})  # logged in nowhere
        result = run_tasks(
            repo, "cost", "base", "--repo", prefix, "--tag", "new",
            env=_env(tmp_path, DOCKER_CONFIG=str(config)),
        )  # fmt: skip
    finally:
        remove_images(engine, prefix)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert f"the registry {auth_registry.host} refused access" in result.stderr
    assert f"docker login {auth_registry.host}" in result.stderr
