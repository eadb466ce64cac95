"""Time `plan --estimate` against `plan` on the fixture stack released into a registry, for
two release sizes, and count the bytes it reads there: the estimate must read no layer.

    python benchmarks/estimate.py [--registry-port 5000] [--sizes 2,64] [--runs 3]

Needs the venv of `nox -s selftest`, a Docker engine with the fixture upstream and a
registry on 127.0.0.1:PORT (bash .ci/provision-docker.sh). For each size N, base's
`COPY bin/` carries N MB of random bytes; the five stages are baked and pushed (v2)
through a counting proxy in front of the registry, under a throwaway namespace. Then a
branch changes a file that `COPY bin/` reads, which rebuilds all five stages.
"""

from __future__ import annotations

import argparse
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
from tasks.tests.support import (  # noqa: E402
    UPSTREAM,
    clean_env,
    commit_all,
    git,
    make_stack,
    remove_images,
    write,
)

STAGES = ("base", "mid", "sas-kernel", "jupyterlab-cpu", "sas")


def tasks(repo: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tasks", *args], cwd=repo, env=env,
                            capture_output=True)  # fmt: skip
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed:\n{result.stderr.decode()[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry-port", type=int, default=5000)
    parser.add_argument("--sizes", default="2,64", help="base's big layer in MB, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = docker.from_env()
    engine.images.get(UPSTREAM)  # made by .ci/provision-docker.sh
    proxy = CuttingProxy(args.registry_port)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for megabytes in (int(size) for size in args.sizes.split(",")):
            repo = make_stack(Path(scratch) / f"stack-{megabytes}")
            (repo / "images" / "base" / "bin" / "big.bin").write_bytes(
                os.urandom(megabytes * 10**6)
            )
            commit_all(repo, "a big layer in base")
            prefix = f"localhost:{proxy.port}/estimatebench{uuid.uuid4().hex[:6]}"
            env = {
                **clean_env(UPSTREAM_IMAGE=UPSTREAM, ZONE_PUSH_ATTEMPTS="2"),
                "PYTHONPATH": str(PROJECT),
            }
            try:
                tasks(repo, env, "bake", "--repo", prefix)
                tasks(repo, env, "push", *STAGES, "--repo", prefix)
                git(repo, "checkout", "-q", "-b", "change")
                write(repo, "images/base/bin/zone-hello", "#!/bin/sh\necho changed\n")
                commit_all(repo, "change a file base copies")
                plain = [tasks(repo, env, "plan", "--repo", prefix) for _ in range(args.runs)]
                timed, read, blobs = [], 0, 0
                for _ in range(args.runs):
                    proxy.answered.clear()
                    timed.append(tasks(repo, env, "plan", "--estimate", "--repo", prefix))
                    read = sum(size for _, _, size in proxy.answered)
                    blobs = sum(1 for _, path, _ in proxy.answered if "/blobs/" in path)
                rows.append((megabytes, plain, timed, read, blobs))
            finally:
                remove_images(engine, prefix)
    proxy.close()
    print(
        f"{'big layer':>9}  {'plan s':>7}  {'--estimate s':>12}  {'registry bytes':>14}  blob reads"
    )
    for megabytes, plain, timed, read, blobs in rows:
        print(
            f"{megabytes:>7}MB  {statistics.median(plain):>7.2f}  "
            f"{statistics.median(timed):>12.2f}  {read:>14,}  {blobs:>5}"
        )
    print("(5 stages rebuilt: every stage's release is looked up; medians of --runs)")


if __name__ == "__main__":
    main()
