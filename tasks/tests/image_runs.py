"""`nox -s test` run on the JupyterLab fixture stack (jupyter_stack.py) as a user runs it,
and what a run must leave alone: containers that are not its own."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker

from tasks.tests import jupyter_stack
from tasks.tests.support import PROJECT, clean_env, run_nox

OURS = "io.zone.project=zone-kubeflow-containers"


def bystanders(engine: docker.DockerClient) -> Iterator[list]:
    """Containers that are not a test run's own: someone else's, and this project's from
    another run. Every run must leave both alone."""
    made = [
        engine.containers.run(jupyter_stack.DEBIAN, ["sleep", "3600"], detach=True, labels=labels)
        for labels in (
            {"io.zone.project": "someone-else"},
            {"io.zone.project": "zone-kubeflow-containers", "io.zone.run": "another-run"},
        )
    ]
    yield made
    for container in made:
        container.remove(force=True)


def ours(engine: docker.DockerClient, *refs: str) -> set[str]:
    """This project's containers of the images `refs`: other checkouts testing other builds
    on the same engine at the same time make theirs of other tags."""
    # sparse: no inspect per container, which fails for one another run removes meanwhile.
    mine = engine.containers.list(all=True, sparse=True, filters={"label": OURS})
    return {c.id for c in mine if c.attrs["Image"] in refs}


def run_test(nox_envdir: Path, *posargs: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_nox(
        PROJECT, nox_envdir, "test", "--repo", jupyter_stack.REPO, *posargs, env=clean_env(**env)
    )


def survived(bystander: list) -> None:
    for container in bystander:
        container.reload()
        assert container.status == "running", "a test run touched a container not its own"
