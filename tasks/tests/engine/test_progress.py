"""The progress display of push, pull and scans, on a real engine and registry: bars on a
terminal (a pseudo-terminal here), plain lines through a pipe, nothing with --quiet, the
same stdout either way, and a clean end on Ctrl-C."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.tests.registry_proxy import CuttingProxy
from tasks.tests.support import (
    clean_env,
    commit_all,
    git,
    make_stack,
    remove_images,
    run_tasks,
    write,
)
from tasks.tests.terminal import SHOW_CURSOR, in_terminal

NEW_BYTES = 4_000_000  # random, so it stays about this size compressed: a few MB to send
ESCAPE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # no control character but tab and newline


@pytest.fixture
def stack(tmp_path: Path, upstream: str) -> Path:
    """The fixture stack with a few MB of new, incompressible bytes in the sas stage."""
    repo = make_stack(tmp_path / "stack")
    write(repo, "images/sas/stage.txt", base64.b64encode(os.urandom(NEW_BYTES * 3 // 4)).decode())
    commit_all(repo, "a few MB more")
    return repo


@pytest.fixture
def prefix(registry: str, engine: docker.DockerClient) -> Iterator[str]:
    name = f"{registry}-p{uuid.uuid4().hex[:6]}"
    yield name
    remove_images(engine, name)


def _env(tmp_path: Path, upstream: str, **extra: str) -> dict[str, str]:
    return clean_env(
        UPSTREAM_IMAGE=upstream,
        ZONE_PUSH_ATTEMPTS="1",
        ZONE_SBOM_CACHE=str(tmp_path / "sbom"),
        **extra,
    )


def _baked(repo: Path, prefix: str, env: dict[str, str]) -> None:
    result = run_tasks(repo, "bake", "sas", "--repo", prefix, env=env)
    assert result.returncode == 0, result.stderr


def _plain(text: str) -> None:
    """What a CI log gets: printable lines, no escape sequence, no carriage return."""
    assert not ESCAPE.search(text), repr(ESCAPE.search(text))


def test_push_on_a_terminal_shows_bars_to_100_percent_then_the_table(
    stack: Path, prefix: str, upstream: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, upstream)
    _baked(stack, prefix, env)
    sha = git(stack, "rev-parse", "HEAD")

    ran = in_terminal(stack, "push", "sas", "--repo", prefix, env=env)

    assert ran.returncode == 0, ran.terminal
    assert "\x1b[" in ran.terminal  # a live display, not plain lines
    assert f"sas:{sha}" in ran.terminal and "layers" in ran.terminal
    assert "100 %" in ran.terminal
    # The first tag's row ends with every byte sent: the 4 MB and the layers under them.
    sent = re.findall(r"100 % \d+/\d+ layers · (\d+\.\d) MB/(\d+\.\d) MB sent", ran.terminal)
    assert any(a == b and float(a) >= 3 for a, b in sent), ran.terminal[-3000:]
    assert "every layer already there" in ran.terminal  # the tags after the first
    table = ran.terminal.index("Pushed (the registry serves these digests)")
    assert ran.terminal.rindex("100 %") < table  # the table follows the closed display
    assert SHOW_CURSOR in ran.terminal
    assert "Traceback" not in ran.terminal


def test_push_through_a_pipe_prints_a_bounded_number_of_plain_lines(
    stack: Path, prefix: str, upstream: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, upstream)
    _baked(stack, prefix, env)
    sha = git(stack, "rev-parse", "HEAD")

    result = run_tasks(stack, "push", "sas", "--repo", prefix, env=env)

    assert result.returncode == 0, result.stderr
    _plain(result.stderr)
    lines = result.stderr.splitlines()
    # The first tag sends the layers, each said once; the four after it find them there.
    sent = [line for line in lines if re.match(rf"sas:{sha}: layer \w+ sent \(", line)]
    assert sent and any("MB)" in line for line in sent), result.stderr
    done = [line for line in lines if re.match(r"sas:\S+: done, \d+ layers", line)]
    assert len(done) == 5, result.stderr
    assert all("already there" in line for line in done[1:]), done
    assert len(lines) < 80, result.stderr

    again = run_tasks(stack, "push", "sas", "--repo", prefix, "--quiet", env=env)

    assert again.returncode == 0, again.stderr
    assert "done," not in again.stderr and "layer" not in again.stderr
    assert "Pushed (the registry serves these digests)" in again.stderr


def _registry_image(host: str, name: str, tag: str, size: int) -> None:
    """An image of one layer of `size` random bytes, written into the registry through its
    API: bytes this engine never held, so a pull of it surely receives them."""
    payload = os.urandom(size)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        entry = tarfile.TarInfo("random.bin")
        entry.size = size
        tar.addfile(entry, io.BytesIO(payload))
    diff = archive.getvalue()
    layer = gzip.compress(diff, compresslevel=1)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "created": "2026-01-01T00:00:00Z",
            "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "random bytes"}],
            "rootfs": {"type": "layers", "diff_ids": [_digest(diff)]},
        }
    ).encode()
    for blob in (layer, config):
        start = urllib.request.Request(f"http://{host}/v2/{name}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start, timeout=30) as answer:
            where = urllib.parse.urljoin(f"http://{host}", answer.headers["Location"])
        joint = "&" if "?" in where else "?"
        put = urllib.request.Request(
            f"{where}{joint}digest={_digest(blob)}", data=blob, method="PUT"
        )
        put.add_header("Content-Type", "application/octet-stream")
        urllib.request.urlopen(put, timeout=60).close()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _digest(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(layer),
                "size": len(layer),
            }
        ],
    }
    put = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{tag}", data=json.dumps(manifest).encode(), method="PUT"
    )
    put.add_header("Content-Type", manifest["mediaType"])
    urllib.request.urlopen(put, timeout=30).close()


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def test_pull_and_scan_show_progress_and_leave_json_byte_identical(
    prefix: str, registry: str, tmp_path: Path, upstream: str, engine: docker.DockerClient
) -> None:
    repo = make_stack(tmp_path / "stack")
    host, path = prefix.split("/", 1)
    _registry_image(host, f"{path}/sas", "master", NEW_BYTES)
    cost = ("cost", "sas", "--repo", prefix, "--pull", "--json")
    env = _env(tmp_path, upstream)

    ran = in_terminal(repo, *cost, env=env)

    assert ran.returncode == 0, ran.terminal
    assert "\x1b[" in ran.terminal and SHOW_CURSOR in ran.terminal
    # The pull's row ends at 100 %, its one layer received (not "already there": the
    # engine never held these bytes); the bytes, when the engine said them before the
    # layer was in, all of them.
    pulled = re.findall(r"sas:master .*100 % 1/1 layers · ([^\r\n]*)", ran.terminal)
    assert pulled and "already there" not in pulled[-1], ran.terminal[:2000]
    received = re.fullmatch(r"(\d+\.\d) MB/(\d+\.\d) MB received\s*", pulled[-1])
    assert pulled[-1].startswith("done, sizes not said") or (
        received and received[1] == received[2] and float(received[1]) >= 3
    ), pulled[-1]
    # A first release: the image's packages alone are read.
    assert re.search(r"sas: packages .*100 %.*1/1 done", ran.terminal), ran.terminal[-3000:]
    assert "Traceback" not in ran.terminal

    # Through a pipe: another image of fresh bytes, so that this pull receives them too.
    other = f"{prefix}-b"
    _registry_image(host, f"{path}-b/sas", "master", NEW_BYTES)
    try:
        piped = run_tasks(repo, "cost", "sas", "--repo", other, "--pull", "--json", env=env)
    finally:
        remove_images(engine, other)

    assert piped.returncode == 0, piped.stderr
    _plain(piped.stderr)
    lines = piped.stderr.splitlines()
    assert any(re.match(r"sas:master: layer \w+ received( \(\d\.\d MB\))?$", x) for x in lines)
    assert any(
        re.match(r"sas:master: done, 1 layers \((\d\.\d MB received|sizes not said)\) in", x)
        for x in lines
    ), lines
    assert any(re.match(r"sas: packages: 1/1 this image \(\d+s\)$", x) for x in lines), lines
    assert len(lines) < 40, piped.stderr

    # stdout is the JSON alone, byte for byte the same with bars, lines, or neither.
    same = run_tasks(repo, *cost, env=env)
    quiet = run_tasks(repo, *cost, "--quiet", env=env)
    assert same.returncode == quiet.returncode == 0, same.stderr + quiet.stderr
    assert ran.stdout == same.stdout == quiet.stdout
    assert json.loads(ran.stdout)[0]["image"] == "sas"


def test_ctrl_c_in_a_displayed_push_ends_cleanly_with_what_went_up(
    stack: Path, registry: str, upstream: str, tmp_path: Path, engine: docker.DockerClient
) -> None:
    port = int(registry.split("/")[0].rsplit(":", 1)[1])
    proxy = CuttingProxy(port)
    proxy.hold_writes = True  # the layers go up, the manifest never: surely mid-push
    prefix = f"127.0.0.1:{proxy.port}/p{uuid.uuid4().hex[:6]}"
    env = _env(tmp_path, upstream)
    try:
        _baked(stack, prefix, env)
        ran = in_terminal(
            stack,
            "push",
            "sas",
            "--repo",
            prefix,
            env=env,
            interrupt_when=lambda shown: proxy.held.is_set() and "pushing" in shown,
        )
    finally:
        proxy.close()
        remove_images(engine, prefix)

    assert ran.interrupted, ran.terminal
    assert ran.returncode == 130, ran.terminal
    assert "Traceback" not in ran.terminal
    assert SHOW_CURSOR in ran.terminal
    assert "interrupted: pushed before it: none" in ran.terminal
    # Said after the display closed: below the bars, not inside them.
    assert ran.terminal.rindex(SHOW_CURSOR) < ran.terminal.index("interrupted: pushed before")
