"""Time and peak memory of `nox -s pins` against an index that answers badly: slow (a
byte a second, in the body or in the headers), huge (300 MB) or malformed.

    python benchmarks/answers.py [--runner PATH] [--cap SECONDS] [--timeout SECONDS]

Needs the venv of `nox -s selftest`. --runner: the checkout whose `tasks` package runs
(default: this one; another checkout gives the figures before a change). Each run is
`python -m tasks pins --kind pypi` on the fixture stack with one pypi pin, its
ZONE_PYPI_URL at tasks/tests/fake_index.py, killed after --cap seconds (a run that
never ends is shown as "> CAP s"). Peak memory is the run's maximum resident set.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tasks.tests.fake_index import FakeIndex  # noqa: E402
from tasks.tests.support import clean_env, make_stack, write  # noqa: E402

MODES = ("slow", "slow-headers", "huge", "huge-declared", "number", "array")
ANSWERS = {"number": b'{"versions": 5}', "array": b"[1, 2]"}
DOCKERFILE = (
    "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n# pin: pypi sas_kernel; evidence: test\n"
    "ARG SAS_KERNEL_VERSION=2.4.13\n"
    'RUN pip install --no-cache-dir "sas_kernel==${SAS_KERNEL_VERSION}"\n'
)
# The child's peak resident set, measured where it runs (this script's other children
# must not count): it prints it as the last line of stderr.
MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "file=sys.stderr); sys.exit(code)"
)


def one(repo: Path, runner: Path, url: str, cap: float, timeout: str) -> tuple[str, str, str]:
    env = clean_env(ZONE_PYPI_URL=url, ZONE_PINS_TIMEOUT=timeout, PYTHONPATH=str(runner))
    command = [sys.executable, "-c", MEASURED, sys.executable, "-m", "tasks", "pins"]
    start = time.perf_counter()
    process = subprocess.Popen([*command, "--kind", "pypi"], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the measuring parent and the run
        process.communicate()
        return f"> {cap:g} s", "(killed)", "never finished"
    elapsed = time.perf_counter() - start
    lines = stderr.strip().splitlines()
    peak = int(lines[-1].split()[1]) / 1024 if lines and lines[-1].startswith("peak-kb") else 0
    said = next((line for line in lines if "Traceback" in line or "could not ask" in line), "")
    said = said or next((line for line in lines if line.startswith("error:")), lines[0])
    return f"{elapsed:.1f} s", f"{peak:.0f} MB", said.strip()[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", type=Path, default=PROJECT)
    parser.add_argument("--cap", type=float, default=120)
    parser.add_argument("--timeout", default="5", help="ZONE_PINS_TIMEOUT for each run")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with tempfile.TemporaryDirectory() as folder, FakeIndex(ANSWERS) as index:
        repo = make_stack(Path(folder) / "stack")
        write(repo, "images/sas_kernel/Dockerfile", DOCKERFILE)
        print(f"runner: {args.runner}, ZONE_PINS_TIMEOUT={args.timeout}")
        print("| answer | time | peak memory | what it says |\n| --- | --- | --- | --- |")
        for mode in MODES:
            figures = one(repo, args.runner, f"{index.url}/{mode}", args.cap, args.timeout)
            print(f"| {mode} | " + " | ".join(figures) + " |", flush=True)


if __name__ == "__main__":
    main()
