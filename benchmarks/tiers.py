"""Time each tier of the runner's own tests alone: wall clock, CPU, counts, slowest tests.

    python benchmarks/tiers.py [unit cli engine e2e] [--side-by-side] [--load N]

Runs with the interpreter that runs this script: the selftest venv's
(`.nox/selftest/bin/python`, which `nox -s selftest -- -q` makes). Each tier is one pytest
process on its folder of tasks/tests/, one after the other, and the figures are printed
as each ends. --side-by-side also runs the tiers named at once, one process each, and
prints the wall clock of that against the sum of their times alone. --load N keeps N busy
loops running meanwhile (a loaded machine, as CI's can be), ended when the script ends.

Figures only, no judgement: a tier's time depends on the machine and what else runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "cli", "engine", "e2e")
SUMMARY = re.compile(r"^=* ?(.*\b(?:passed|failed|error)\b.*?) in ([\d.]+)s", re.M)
DURATION = re.compile(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)", re.M)


@dataclass
class Run:
    tier: str
    seconds: float
    cpu: float  # user + system seconds of pytest and everything it started
    summary: str
    slowest: list[tuple[float, str]]
    code: int


def argv(tier: str) -> list[str]:
    folder = PROJECT / "tasks" / "tests" / tier
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=5",
        str(folder),
    ]


def parsed(tier: str, output: str, seconds: float, cpu: float, code: int) -> Run:
    found = SUMMARY.findall(output)
    summary = found[-1][0].strip("= ") if found else f"no summary (exit {code})"
    slowest = [
        (float(s), f"{when} {name.split('/tests/', 1)[-1]}")
        for s, when, name in DURATION.findall(output)
    ]
    return Run(tier, seconds, cpu, summary, slowest, code)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def alone(tier: str) -> Run:
    before, start = children_cpu(), time.perf_counter()
    result = subprocess.run(argv(tier), cwd=PROJECT, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, children_cpu() - before
    return parsed(tier, result.stdout + result.stderr, seconds, cpu, result.returncode)


def side_by_side(tiers: list[str]) -> tuple[float, list[Run]]:
    start = time.perf_counter()
    running = {
        tier: subprocess.Popen(
            argv(tier), cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for tier in tiers
    }
    runs = []
    for tier, process in running.items():
        output, _ = process.communicate()
        runs.append(parsed(tier, output, time.perf_counter() - start, 0.0, process.returncode))
    return time.perf_counter() - start, runs


def _spin() -> None:
    while True:
        pass


@contextmanager
def load(loops: int) -> Iterator[None]:
    """`loops` busy processes for the duration, ended (by their own handles) after."""
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(loops)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


def show(run: Run) -> None:
    cpu = f", CPU {run.cpu:6.1f} s" if run.cpu else ""
    print(f"{run.tier:7} {run.seconds:7.1f} s{cpu}  {run.summary}", flush=True)
    for seconds, name in run.slowest[:3]:
        print(f"{'':9}{seconds:6.1f} s  {name}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tiers", nargs="*", metavar="TIER", help=f"of {', '.join(TIERS)}")
    parser.add_argument("--side-by-side", action="store_true")
    parser.add_argument("--load", type=int, default=0, metavar="N")
    options = parser.parse_args()
    tiers = options.tiers or list(TIERS)
    if unknown := [tier for tier in tiers if tier not in TIERS]:
        parser.error(f"unknown tier {', '.join(unknown)}: the tiers are {', '.join(TIERS)}")
    with load(options.load):
        print(f"each tier alone: {len(tiers)} of them, {options.load} busy loops beside")
        runs = []
        for tier in tiers:
            runs.append(alone(tier))
            show(runs[-1])
        total = sum(run.seconds for run in runs)
        print(f"{'total':7} {total:7.1f} s, one tier after the other")
        if options.side_by_side and len(tiers) > 1:
            wall, together = side_by_side(tiers)
            print(f"side by side: {wall:.1f} s for {', '.join(tiers)} ({total:.1f} s alone)")
            for run in together:
                print(f"  {run.tier:7} ended at {run.seconds:7.1f} s  {run.summary}")
    return 0 if all(run.code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
