"""Time the runner's main paths and print the figures.

    python benchmarks/runner.py [--registry localhost:5000] [--runs 5]

Needs the runner's dependencies (e.g. the venv of `nox -s selftest`), a Docker engine
and a registry (bash .ci/provision-docker.sh starts one on 127.0.0.1:5000). It builds
the fixture stack of tasks/tests in a temporary git repository; every image it tags is
under a throwaway namespace of that registry and is removed at the end.
"""

from __future__ import annotations

import argparse
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

from tasks.tests.support import (  # noqa: E402
    UPSTREAM,
    clean_env,
    commit_all,
    git,
    make_stack,
    remove_images,
    write,
)


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(argv)}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="localhost:5000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    engine = docker.from_env()
    engine.images.get(UPSTREAM)  # made by .ci/provision-docker.sh
    prefix = f"{args.registry}/bench{uuid.uuid4().hex[:6]}"
    env = {**clean_env(UPSTREAM_IMAGE=UPSTREAM), "PYTHONPATH": str(PROJECT)}
    tasks = [sys.executable, "-m", "tasks"]
    rows: list[tuple[str, str]] = []

    plan_times = [timed([*tasks, "plan", "--json"], PROJECT, env) for _ in range(args.runs)]
    rows.append(
        ("plan, this repository (python -m tasks)", f"{statistics.median(plan_times):.2f} s")
    )

    with tempfile.TemporaryDirectory() as tmp:
        repo = make_stack(Path(tmp) / "stack")
        # A unique file per run so the first bake really builds every step.
        write(repo, "images/base/run-id.txt", uuid.uuid4().hex)
        commit_all(repo)
        bake = [*tasks, "bake", "--repo", prefix]
        rows.append(
            (
                "bake all 5 stages, nothing cached, --push",
                f"{timed([*bake, '--push'], repo, env):.1f} s",
            )
        )
        rows.append(("bake all 5 stages again, all cached", f"{timed(bake, repo, env):.1f} s"))
        git(repo, "checkout", "-q", "-b", "feature")
        write(repo, "images/sas/stage.txt", uuid.uuid4().hex)
        commit_all(repo)
        changed = [*bake, "sas", "--changed", "--base", "master"]
        rows.append(
            (
                "bake --changed, one leaf (parent from registry)",
                f"{timed(changed, repo, env):.1f} s",
            )
        )
        rows.append(
            (
                "the same leaf, whole chain without --changed",
                f"{timed([*bake, 'sas'], repo, env):.1f} s",
            )
        )
    remove_images(engine, prefix)

    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
