"""Time `cost` cold (SBOMs made) and warm (cached) on fixture images of two sizes, and count
the bytes it reads from the registry: the comparison must read no layer of the release.

    python benchmarks/cost.py [--registry-port 5000] [--sizes 2,64] [--runs 3]

Needs the venv of `nox -s selftest` (it has syft), a Docker engine with the fixture
upstream and a registry on 127.0.0.1:PORT (bash .ci/provision-docker.sh). Each size N
builds a release (upstream + N MB of random bytes: shared) and a new image over it (a
pip package's dist-info and 100 kB of its own), pushed through a counting proxy in front
of the registry, under a throwaway namespace; local tags are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import docker  # noqa: E402

from tasks.tests.registry_proxy import CuttingProxy  # noqa: E402
from tasks.tests.support import UPSTREAM, clean_env, make_stack, remove_images  # noqa: E402


def build(folder: Path, dockerfile: str, ref: str) -> None:
    (folder / "Dockerfile").write_text(dockerfile)
    for argv in (["docker", "buildx", "build", "--load", "-q", "-t", ref, str(folder)],
                 ["docker", "push", "-q", ref]):  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True)


def images(folder: Path, prefix: str, megabytes: int) -> None:
    """PREFIX/base:v2 (the release) and PREFIX/base:new over it, both pushed."""
    (folder / "shared.bin").write_bytes(os.urandom(megabytes * 10**6))
    build(folder, f"FROM {UPSTREAM}\nCOPY shared.bin /opt/shared.bin\n", f"{prefix}/base:v2")
    info = folder / "site" / "bench_pkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-pkg\nVersion: 1.0\n")
    (folder / "own.bin").write_bytes(os.urandom(100_000))
    build(
        folder,
        f"FROM {prefix}/base:v2\nCOPY site /usr/lib/python3/site-packages/\nCOPY own.bin /own\n",
        f"{prefix}/base:new",
    )


def release_layers(proxy: CuttingProxy, prefix: str) -> set[str]:
    """The release's layer blob digests, read from its manifest through the proxy."""
    from tasks import settings
    from tasks.registry import layers

    found = layers.remote(f"{prefix}/base:v2", settings.Settings(root=PROJECT))
    assert found is not None
    return {layer.blob for layer in found.layers}


def run(
    repo: Path, prefix: str, env: dict[str, str], proxy: CuttingProxy, blobs: set[str], *extra: str
) -> tuple[float, int, int]:
    """Seconds, bytes read from the registry, and bytes of those that were release layers."""
    proxy.answered.clear()
    argv = [sys.executable, "-m", "tasks", "cost", "base", "--repo", prefix, "--tag", "new"]
    start = time.perf_counter()
    result = subprocess.run([*argv, "--json", *extra], cwd=repo, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"cost failed:\n{result.stderr.decode()[-3000:]}")
    json.loads(result.stdout)
    total = sum(size for _, _, size in proxy.answered)
    layered = sum(
        size
        for _, path, size in proxy.answered
        if "/blobs/" in path and path.rsplit("/", 1)[1] in blobs
    )
    return elapsed, total, layered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry-port", type=int, default=5000)
    parser.add_argument("--sizes", default="2,64", help="release sizes in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = docker.from_env()
    engine.images.get(UPSTREAM)  # made by .ci/provision-docker.sh
    proxy = CuttingProxy(args.registry_port)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        repo = make_stack(Path(scratch) / "stack")
        for megabytes in (int(size) for size in args.sizes.split(",")):
            prefix = f"localhost:{proxy.port}/costbench{uuid.uuid4().hex[:6]}"
            folder = Path(scratch) / f"images-{megabytes}"
            folder.mkdir()
            try:
                images(folder, prefix, megabytes)
                blobs = release_layers(proxy, prefix)
                cache = Path(scratch) / f"sbom-{megabytes}"
                env = {
                    **clean_env(ZONE_SBOM_CACHE=str(cache)),
                    "PYTHONPATH": str(PROJECT),
                }
                once = (repo, prefix, env, proxy, blobs)
                layers_only = [run(*once, "--no-packages") for _ in range(args.runs)]
                cold = run(*once)
                warm = [run(*once) for _ in range(args.runs)]
                rows.append((megabytes, layers_only, cold, warm))
            finally:
                remove_images(engine, prefix)
    proxy.close()
    print(
        f"{'release':>8}  {'what':<26} {'seconds':>8} {'registry bytes':>15} {'of its layers':>14}"
    )
    for megabytes, layers_only, cold, warm in rows:
        for what, figures in (
            ("layers only (--no-packages)", layers_only),
            ("cold (SBOMs made)", [cold]),
            ("warm (SBOMs cached)", warm),
        ):
            seconds = statistics.median(f[0] for f in figures)
            print(
                f"{megabytes:>6}MB  {what:<26} {seconds:>8.2f} {figures[0][1]:>15,} "
                f"{figures[0][2]:>14,}"
            )


if __name__ == "__main__":
    main()
