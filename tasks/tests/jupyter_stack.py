"""The JupyterLab fixture stack (fixtures/jupyter): built once per machine, reused by tag.

The tag is a digest of everything that goes into the images, so an edit to the fixture,
the bake file or the wheelhouse builds a new stack and an unchanged one is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import docker
import docker.errors

from tasks.tests.support import (
    PROJECT,
    clean_env,
    commit_all,
    git,
    pin_upstream,
    run_tasks,
    write,
)

FIXTURE = Path(__file__).parent / "fixtures" / "jupyter"
DEBIAN = "zone-fixture/debian:bookworm"  # made by .ci/provision-docker.sh
REPO = "zone-fixture"
# pip works on these machines; the images are built offline from this cache.
WHEELHOUSE = Path("/var/cache/zone-fixture/wheels")
WHEELS = ("jupyterlab", "jupyter-server-proxy")
FINAL = ("jupyterlab-cpu", "sas")
STALE_AFTER = timedelta(days=1)
BROKEN = ("ignores-prefix", "dead-kernel", "lab-assets-missing", "app-leaves-prefix")


def _digest(engine: docker.DockerClient) -> str:
    digest = hashlib.sha256(engine.images.get(DEBIAN).id.encode())
    for path in sorted(FIXTURE.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(FIXTURE)).encode() + path.read_bytes())
    digest.update((PROJECT / "docker-bake.hcl").read_bytes())
    digest.update("\n".join(sorted(p.name for p in WHEELHOUSE.glob("*.whl"))).encode())
    return digest.hexdigest()[:12]


def _exists(engine: docker.DockerClient, ref: str) -> bool:
    try:
        engine.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _wheelhouse() -> None:
    if WHEELHOUSE.is_dir():
        return
    # Downloaded beside it, then renamed: an interrupted download is never taken as done.
    partial = WHEELHOUSE.with_name(WHEELHOUSE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # Wheels for the image's Python (Debian 12: CPython 3.11, glibc 2.36), not the host's.
    platforms = [f"--platform={p}" for p in ("manylinux_2_36_x86_64", "manylinux2014_x86_64")]
    argv = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", partial]
    argv += ["--python-version=3.11", *platforms, "--platform=linux_x86_64", *WHEELS]
    subprocess.run(argv, check=True)
    partial.rename(WHEELHOUSE)


def _build(context: Path, tag: str, **args: str) -> None:
    argv = ["docker", "build", "-q", "-t", tag, str(context)]
    for key, value in args.items():
        argv[3:3] = ["--build-arg", f"{key}={value}"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{result.stdout}{result.stderr}")


def upstream(engine: docker.DockerClient) -> str:
    """The stand-in for datascience-notebook: Debian 12 + JupyterLab from the wheelhouse."""
    _wheelhouse()
    tag = f"{REPO}/upstream:{_digest(engine)}"
    if not _exists(engine, tag):
        with tempfile.TemporaryDirectory() as folder:
            context = Path(folder) / "upstream"
            shutil.copytree(FIXTURE / "upstream", context)
            shutil.copytree(WHEELHOUSE, context / "wheels")
            _build(context, tag, DEBIAN_IMAGE=DEBIAN)
    return tag


def stack(engine: docker.DockerClient) -> str:
    """Build (or reuse) REPO/{jupyterlab-cpu,sas}:TAG with the runner; return TAG."""
    base = upstream(engine)
    tag = base.rsplit(":", 1)[1]
    if all(_exists(engine, f"{REPO}/{name}:{tag}") for name in FINAL):
        return tag
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder) / "stack"
        repo.mkdir()
        pin_upstream(repo / "docker-bake.hcl", base)
        shutil.copytree(FIXTURE / "images", repo / "images")
        write(repo, "README.md", "# JupyterLab fixture stack\n")
        git(repo, "init", "-q", "-b", "fixture")
        commit_all(repo, "fixture stack")
        result = run_tasks(
            repo,
            "bake",
            *FINAL,
            "--repo",
            REPO,
            "--extra-tag",
            tag,
            env=clean_env(UPSTREAM_IMAGE=base),
        )
    if result.returncode != 0:
        raise RuntimeError(f"baking the fixture stack failed:\n{result.stdout}{result.stderr}")
    _prune(engine, tag)
    return tag


def _prune(engine: docker.DockerClient, keep: str) -> None:
    """Untag older builds of this fixture (and the bake's branch/SHA tags): ours only.

    A recent build is left alone: another checkout on this engine may be testing it now.
    """
    ours = ("upstream", "base", "mid", "sas-kernel", *FINAL)
    stale_before = datetime.now(timezone.utc) - STALE_AFTER
    # One listing, no look-up of each image (slow on a busy engine, and racing with
    # other runs that remove theirs).
    for image in engine.api.images(name=f"{REPO}/*"):
        if datetime.fromtimestamp(image["Created"], timezone.utc) > stale_before:
            continue
        for ref in image.get("RepoTags") or []:
            name, tag = ref.rsplit(":", 1)
            if name.split("/", 1)[1] in ours and not tag.endswith(keep):
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(ref)


def broken(engine: docker.DockerClient, tag: str, kind: str) -> str:
    """REPO/jupyterlab-cpu:<kind>-TAG: the fixture jupyterlab-cpu, broken on purpose."""
    ref = f"{REPO}/jupyterlab-cpu:{kind}-{tag}"
    if not _exists(engine, ref):
        _build(FIXTURE / "broken" / kind, ref, IMAGE=f"{REPO}/jupyterlab-cpu:{tag}")
    return ref
