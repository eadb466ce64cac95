"""Time `python -m tasks plan --json` on this repository, now and at an earlier revision.

    python benchmarks/plan_startup.py [--before REV] [--runs 11]

Runs with the interpreter that runs this script (e.g. `.nox/plan/bin/python`, whose
venv has the runner's dependencies, compiled). With --before, a temporary git worktree
of REV is timed too, the two in turn (A B A B ...), so both see the same machine; the
ratio is taken pair by pair. Prints the medians, the ratio and where the time goes now
(imports vs the rest, from `-X importtime`).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
COMMAND = ["-m", "tasks", "plan", "--json"]


def timed(folder: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *COMMAND], cwd=folder, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"plan failed in {folder}:\n{result.stderr.decode()[-2000:]}")
    return elapsed


def imports(folder: Path, env: dict[str, str]) -> dict[str, float]:
    """Each package's import seconds (its outermost import, children included), from
    `python -X importtime`; the runner's own package left out."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *COMMAND], cwd=folder, env=env, capture_output=True
    )
    seconds: dict[str, float] = {}
    for line in result.stderr.decode().splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| *(\S+)", line)
        if match and not match.group(2).startswith("tasks"):
            name = match.group(2).split(".")[0]
            seconds[name] = max(seconds.get(name, 0), int(match.group(1)) / 1e6)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an earlier revision to time beside this one")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    # The user's settings, minus anything that would send output to GitHub files.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    with tempfile.TemporaryDirectory() as scratch:
        folders = {"now": PROJECT}
        if args.before:
            before = Path(scratch) / "before"
            add = ["worktree", "add", "-q", "--detach", str(before), args.before]
            subprocess.run(["git", "-C", str(PROJECT), *add], check=True)
            folders["before"] = before
        try:
            for folder in folders.values():
                timed(folder, env)  # warm-up: caches, bytecode
            times: dict[str, list[float]] = {name: [] for name in folders}
            for _ in range(args.runs):
                for name, folder in folders.items():
                    times[name].append(timed(folder, env))
            for name, values in times.items():
                print(
                    f"{name:>6}: median {statistics.median(values):.3f} s "
                    f"(min {min(values):.3f}, max {max(values):.3f}, {args.runs} runs)"
                )
            if args.before:
                ratios = [b / a for a, b in zip(times["now"], times["before"], strict=True)]
                print(f" ratio: before/now median {statistics.median(ratios):.2f}x")
            spent = imports(PROJECT, env)
            top = sorted(spent.items(), key=lambda item: -item[1])[:6]
            print("imports now: " + ", ".join(f"{name} {value:.3f} s" for name, value in top))
        finally:
            if args.before:
                subprocess.run(
                    ["git", "-C", str(PROJECT), "worktree", "remove", "--force", str(before)],
                    check=False,
                )


if __name__ == "__main__":
    main()
