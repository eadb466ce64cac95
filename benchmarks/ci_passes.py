"""Time the docker workflow's passes end to end, run here by act as GitHub runs them.

    python benchmarks/ci_passes.py [--registry localhost:5000]

Needs the selftest venv (nox, pytest, pyyaml, the runner's dependencies), a Docker engine
and a registry (bash .ci/provision-docker.sh starts one on 127.0.0.1:5000). On the fixture
stack of tasks/tests, in a temporary git repository, act (tasks/tests/act_run.py, the
stand-in actions of tasks/tests/fixtures/actions/) runs .github/workflows/docker.yaml on
this host, each job starting without the stack's images and making its own nox venvs,
for three pushes to master, then rebuilds one stage on a fresh
builder from the registry build cache. Everything it tags is under a throwaway namespace
of the registry and is removed at the end; the builder cache is pruned once.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

import docker  # noqa: E402

from tasks.tests import act_run  # noqa: E402
from tasks.tests.support import (  # noqa: E402
    UPSTREAM,
    clean_env,
    commit_all,
    docker_config,
    git,
    remove_images,
    write,
)

# The registry of provision-docker.sh wants no login; the login step gets one all the same.
SECRETS = {"REGISTRY_USERNAME": "bench", "REGISTRY_PASSWORD": "bench"}


def push_pass(
    repo: Path, env: dict[str, str], registry: str, tmp: Path
) -> tuple[float, dict, list]:
    """act runs docker.yaml for a push of HEAD to master over HEAD~1."""
    folder = tmp / f"act-{uuid.uuid4().hex[:6]}"
    event = {"before": git(repo, "rev-parse", "HEAD~1"), "ref": "refs/heads/master"}
    variables = {"ZONE_REGISTRY": registry}
    start = time.perf_counter()
    run = act_run.run(
        repo, "docker.yaml", "push", event, folder, env, variables, SECRETS, tmp / "act-cache"
    )
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        sys.exit(f"act failed ({run.returncode}); its log: {run.log}\n{run.tail()}")
    return seconds, run.jobs["plan"].outputs, list(run.jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="localhost:5000")
    args = parser.parse_args()
    engine = docker.from_env()
    engine.images.get(UPSTREAM)  # made by .ci/provision-docker.sh
    prefix = f"{args.registry}/benchci{uuid.uuid4().hex[:6]}"
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        repo = act_run.project_stack(tmp / "stack")
        env = clean_env(
            UPSTREAM_IMAGE=UPSTREAM,
            DOCKER_CONFIG=str(docker_config(tmp / "docker-config", {})),
            STANDIN_ARTIFACTS=str(tmp / "artifacts"),
            STANDIN_RUNNER_IMAGES=prefix,
        )

        def row(name: str, seconds: float, plan: dict, ran: list[str]) -> None:
            built = json.loads(plan["build"])
            reused = json.loads(plan["reuse"])
            jobs = len(ran)
            rows.append(
                (
                    name,
                    f"{seconds:5.1f} s  built {len(built)}, retagged {len(reused)}, {jobs} jobs",
                )
            )

        # The first pass also makes the stand-in's Python venv (act's tool cache keeps it).
        row("full pass: every stage, level by level", *push_pass(repo, env, prefix, tmp))
        write(repo, "README.md", "# fixture stack\n\nA documentation change.\n")
        commit_all(repo, "docs only")
        row("no-change pass: plan, retag every stage", *push_pass(repo, env, prefix, tmp))
        write(repo, "images/sas/stage.txt", f"sas {uuid.uuid4().hex}\n")
        commit_all(repo, "one leaf")
        row("one-leaf pass: plan, retag, bake+test+push sas", *push_pass(repo, env, prefix, tmp))

        # A fresh builder: no images, no build cache; the leaf again, from the registry cache.
        write(repo, "images/sas/stage.txt", f"sas {uuid.uuid4().hex}\n")
        commit_all(repo, "another leaf change")
        bake = [sys.executable, "-m", "tasks", "bake", "sas", "--changed", "--registry-cache"]
        task_env = {**clean_env(UPSTREAM_IMAGE=UPSTREAM, ZONE_REGISTRY=prefix)}
        task_env["PYTHONPATH"] = str(PROJECT)
        subprocess.run(
            [*bake, "--push", "--base", "HEAD~1"],
            cwd=repo,
            env=task_env,
            check=True,
            capture_output=True,
        )
        remove_images(engine, prefix)
        subprocess.run(["docker", "buildx", "prune", "-af"], check=True, capture_output=True)
        start = time.perf_counter()
        result = subprocess.run(
            [*bake, "--base", "HEAD~1"],
            cwd=repo,
            env=task_env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        log = result.stdout + result.stderr
        steps = re.findall(r"^#(\d+) \[[^\]]*\] (?:RUN|COPY) ", log, re.MULTILINE)
        cached = [
            n for n in dict.fromkeys(steps) if re.search(rf"^#{n} CACHED$", log, re.MULTILINE)
        ]
        rows.append(
            (
                "fresh builder, leaf rebuilt from the registry cache",
                f"{seconds:5.1f} s  {len(cached)} of {len(set(steps))} steps from the cache",
            )
        )
    remove_images(engine, prefix)
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
