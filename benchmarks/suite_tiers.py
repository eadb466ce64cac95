"""Wall times of the runner's own tests: each tier alone, then the whole selftest.

    python benchmarks/suite_tiers.py [--tiers unit cli ...] [--no-suite] [--dist D ...]

Runs with the interpreter that runs this script: the selftest venv's
(`.nox/selftest/bin/python`, which `nox -s selftest -- -q` makes). Each tier is one pytest
process on its folder (as benchmarks/tiers.py runs it), one after the other. The whole
selftest is what `nox -s selftest` runs: the tests marked neither quiet nor serial on two
workers, then the quiet ones on two, then the serial one alone; `--dist loadfile loadgroup`
times it once per way of sharing the tests between the workers (loadfile: a file per
worker, as before tasks/tests/schedule.py; loadgroup: the selftest's), one after the other
on the same machine.

Figures only, no judgement: the machine may be shared (its load is printed beside each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from tiers import DURATION, PROJECT, SUMMARY, TIERS, alone, show

DISTS = ("loadgroup", "loadfile")


def _load() -> str:
    return "load " + " ".join(f"{figure:.1f}" for figure in os.getloadavg())


def _pytest(*args: str) -> tuple[float, str, int]:
    start = time.perf_counter()
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    result = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True)
    return time.perf_counter() - start, result.stdout + result.stderr, result.returncode


def _summary(output: str, code: int) -> str:
    found = SUMMARY.findall(output)
    return found[-1][0].strip("= ") if found else f"no summary (exit {code})"


def selftest(dist: str) -> int:
    """The two phases of `nox -s selftest`, with `dist` for the first; prints each."""
    print(f"whole selftest, --dist {dist} ({_load()} at the start)", flush=True)
    phases = (  # as noxfile.py's selftest runs them
        (
            "two workers",
            ["--durations=10", "-n", "2", "--dist", dist, "-m", "not quiet and not serial"],
        ),
        ("quiet", ["--durations=5", "-n", "2", "--dist", dist, "-m", "quiet"]),
        ("serial", ["--durations=5", "-m", "serial"]),
    )
    total, worst = 0.0, 0
    for name, args in phases:
        seconds, output, code = _pytest(*args)
        total, worst = total + seconds, max(worst, code)
        print(f"  {name:11} {seconds:7.1f} s  {_summary(output, code)}  ({_load()})", flush=True)
        for figure, when, test in DURATION.findall(output)[:5]:
            print(f"{'':15}{float(figure):6.1f} s  {when} {test.split('/tests/', 1)[-1]}")
    print(f"  {'total':11} {total:7.1f} s", flush=True)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", nargs="*", default=list(TIERS), metavar="TIER")
    parser.add_argument("--no-suite", action="store_true", help="the tiers only")
    parser.add_argument("--dist", nargs="+", default=["loadgroup"], choices=DISTS)
    options = parser.parse_args()
    if unknown := [tier for tier in options.tiers if tier not in TIERS]:
        parser.error(f"unknown tier {', '.join(unknown)}: the tiers are {', '.join(TIERS)}")
    codes = []
    if options.tiers:
        print(f"each tier alone ({_load()} at the start)", flush=True)
        runs = []
        for tier in options.tiers:
            runs.append(alone(tier))
            show(runs[-1])
            codes.append(runs[-1].code)
        print(f"{'total':7} {sum(run.seconds for run in runs):7.1f} s, one tier after the other")
    if not options.no_suite:
        codes += [selftest(dist) for dist in options.dist]
    return 0 if not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
