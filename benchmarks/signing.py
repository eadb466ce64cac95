"""What signing adds to a push, and verification to a no-change CI pass.

    python benchmarks/signing.py [--registry 127.0.0.1:5000] [--runs 5]

Needs the selftest venv (its python runs this), a Docker engine, a registry (bash
.ci/provision-docker.sh starts one on 127.0.0.1:5000) and cosign on PATH. On the fixture
stack of tasks/tests, in a temporary git repository with a key pair made here: the five
stages are baked and pushed once, then, in turn (A B A B ...):
- `push` of the five stages, signed against unsigned (the layers are in the registry
  already, so the difference is what signing costs: one cosign run an image);
- `retag --dry-run` on a branch that changes one leaf (a no-change pass for the four
  reused stages), verifying signatures against verify-reuse off.
Prints each median and the difference. Everything is under a throwaway namespace.
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

STAGES = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]
PASSWORD = "bench-" + uuid.uuid4().hex


def tasks(repo: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        cwd=repo,
        env={**env, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"`{' '.join(args)}` failed:\n{result.stderr[-3000:]}")
    return seconds


def side_by_side(runs: int, a, b) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(a())
        times_b.append(b())
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    engine = docker.from_env(timeout=600)
    prefix = f"{options.registry}/bench-sign-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        repo = make_stack(tmp / "stack")
        subprocess.run(
            ["cosign", "generate-key-pair", "--output-key-prefix", "bench"],
            cwd=tmp,
            env={"COSIGN_PASSWORD": PASSWORD, "PATH": "/usr/local/bin:/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
        keys = {
            "ZONE_SIGNING_KEY": str(tmp / "bench.key"),
            "ZONE_VERIFY_KEY": str(tmp / "bench.pub"),
            "COSIGN_PASSWORD": PASSWORD,
        }
        unsigned = clean_env(UPSTREAM_IMAGE=UPSTREAM)
        signed = {**unsigned, **keys, "ZONE_VERIFY_REUSE": "true"}
        try:
            tasks(repo, unsigned, "bake", "--repo", prefix)
            tasks(repo, signed, "push", *STAGES, "--repo", prefix)  # layers up, and signed
            push = ["push", *STAGES, "--repo", prefix]
            with_signing, without = side_by_side(
                options.runs,
                lambda: tasks(repo, signed, *push),
                lambda: tasks(repo, unsigned, *push),
            )
            git(repo, "checkout", "-q", "-b", "feature")
            write(repo, "images/sas/stage.txt", "sas on feature\n")
            commit_all(repo)
            retag = ["retag", "--repo", prefix, "--dry-run"]
            verified, unchecked = side_by_side(
                options.runs,
                lambda: tasks(repo, signed, *retag),
                lambda: tasks(repo, unsigned, *retag),
            )
        finally:
            remove_images(engine, prefix)
    print(f"push of {len(STAGES)} stages (layers already there), median of {options.runs}:")
    print(
        f"  signed {with_signing:.2f} s, unsigned {without:.2f} s: signing adds "
        f"{with_signing - without:.2f} s ({(with_signing - without) / len(STAGES):.2f} s an image)"
    )
    print(f"no-change pass (retag --dry-run, 4 reused stages), median of {options.runs}:")
    print(
        f"  verified {verified:.2f} s, unverified {unchecked:.2f} s: verification adds "
        f"{verified - unchecked:.2f} s ({(verified - unchecked) / 4:.2f} s a stage)"
    )


if __name__ == "__main__":
    main()
