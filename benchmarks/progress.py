"""What the progress display costs on a push: the fixture stack's `sas` pushed to a fresh
local registry with the live display (stderr on a pseudo-terminal), with plain lines
(stderr a pipe) and without either (--quiet); median of --runs each.

    python benchmarks/progress.py [--runs 3] [--megabytes 64]

Needs the venv of `nox -s selftest` and the Docker engine. The stack gets --megabytes of
random (incompressible) bytes in its `sas` stage; every run pushes to a registry of its
own, so every run sends every layer (nothing is "already there").
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import docker  # noqa: E402

from tasks.tests.support import (  # noqa: E402
    UPSTREAM,
    clean_env,
    commit_all,
    make_stack,
    remove_images,
    run_tasks,
    serve_registry,
    write,
)
from tasks.tests.terminal import in_terminal  # noqa: E402


def _timed(action: Callable[[], int]) -> float:
    start = time.perf_counter()
    code = action()
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"a push failed (exit {code})")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=64)
    args = parser.parse_args()
    engine = docker.from_env(timeout=600)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        repo = make_stack(work / "stack")
        text = base64.b64encode(os.urandom(args.megabytes * 750_000)).decode()
        write(repo, "images/sas/stage.txt", text)
        commit_all(repo, "payload")
        env = clean_env(UPSTREAM_IMAGE=UPSTREAM, ZONE_PUSH_ATTEMPTS="1")
        ways: dict[str, Callable[[str], int]] = {
            "live display (pty)": lambda prefix: (
                in_terminal(repo, "push", "sas", "--repo", prefix, env=env).returncode
            ),
            "plain lines (pipe)": lambda prefix: (
                run_tasks(repo, "push", "sas", "--repo", prefix, env=env).returncode
            ),
            "no display (--quiet)": lambda prefix: (
                run_tasks(repo, "push", "sas", "--repo", prefix, "--quiet", env=env).returncode
            ),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for run in range(args.runs):
            for index, (way, push) in enumerate(ways.items()):  # interleaved: drift hits all
                storage = work / f"registry-{run}-{index}"
                storage.mkdir()
                process, port = serve_registry(storage)
                prefix = f"127.0.0.1:{port}/bench"
                try:
                    baked = run_tasks(repo, "bake", "sas", "--repo", prefix, env=env)
                    if baked.returncode != 0:
                        raise SystemExit(baked.stderr)
                    times[way].append(_timed(lambda: push(prefix)))  # noqa: B023 - at once
                    print(f"run {run + 1}, {way}: {times[way][-1]:.2f} s", flush=True)
                finally:
                    process.terminate()
                    process.wait(timeout=10)
                    remove_images(engine, prefix)
    print(f"push of the fixture stack's sas (+{args.megabytes} MB), median of {args.runs}:")
    base = statistics.median(times["no display (--quiet)"])
    for way, found in times.items():
        median = statistics.median(found)
        runs = ", ".join(f"{t:.2f}" for t in found)
        print(f"  {way:<22} {median:6.2f} s  ({median - base:+.2f} s; runs: {runs})")


if __name__ == "__main__":
    main()
