"""Time the general image tests with one shared container against one container per test.

    python benchmarks/image_tests.py [--runs 3]

Needs the venv of `nox -s selftest` (pytest, docker, requests, websocket-client) and a
Docker engine with zone-fixture/debian:bookworm (bash .ci/provision-docker.sh). It runs
tests/general against the fixture jupyterlab-cpu of tasks/tests (built once per machine).
"Per test" is the original suite's way: every test boots its own server.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import docker  # noqa: E402

from tasks.tests import jupyter_stack  # noqa: E402


def timed(image: str, *extra: str) -> float:
    argv = [sys.executable, "-m", "pytest", "tests/general", "-q", "-p", "no:cacheprovider"]
    argv += ["--image", image, *extra]
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the suite failed ({' '.join(extra) or 'shared'}):\n{result.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = docker.from_env()
    started = time.perf_counter()
    tag = jupyter_stack.stack(engine)
    print(f"fixture stack ready in {time.perf_counter() - started:.1f}s (tag {tag})")
    image = f"{jupyter_stack.REPO}/jupyterlab-cpu:{tag}"
    shared = [timed(image) for _ in range(args.runs)]
    fresh = [timed(image, "--fresh-containers") for _ in range(args.runs)]
    for name, runs in (("one shared container", shared), ("one container per test", fresh)):
        figures = ", ".join(f"{t:.1f}" for t in runs)
        print(f"{name:24} median {statistics.median(runs):6.1f}s  (runs: {figures})")
    ratio = statistics.median(shared) / statistics.median(fresh)
    print(f"shared / per test: {ratio:.2f} (target: at most 0.50)")


if __name__ == "__main__":
    main()
