"""The sister project's real Dockerfiles as a repository the runner reads, for measuring lint.

    python benchmarks/sister_repository.py GIT_DIR OUT [COMMIT] [--upstream IMAGE=STAND_IN]

GIT_DIR: a clone or bare mirror of StatCan/aaw-kubeflow-containers; COMMIT: default HEAD.
Its images/ are copied as they are, except that each Dockerfile gets the two lines its CI
supplies (`ARG BASE_IMAGE` and `FROM ${BASE_IMAGE}`), and a docker-bake.hcl is written
from the jobs of its .github/workflows/docker.yaml (image, directory, parent-image,
base-image): one target per image, its parent named through BASE_IMAGE. Then
`python benchmarks/lint_stacked.py OUT` counts the findings.

--upstream builds a root on STAND_IN instead of IMAGE: offline, an image with the config
the upstream's Dockerfile sets (e.g. pushed to a local registry) lets lint read it.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tarfile
from pathlib import Path

import yaml

HEADER = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"


def bake_text(workflow: dict, stand_ins: dict[str, str]) -> str:
    targets = []
    for job in (workflow.get("jobs") or {}).values():
        given = job.get("with") or {}
        if "image" not in given or "directory" not in given:
            continue
        parent = given.get("parent-image") or given.get("base-image")
        parent = stand_ins.get(parent, parent)
        targets.append(
            f'target "{given["image"]}" {{\n  context = "./images/{given["directory"]}"\n'
            f'  args = {{ BASE_IMAGE = "{parent}" }}\n  tags = ["{given["image"]}"]\n}}\n'
        )
    return "".join(dict.fromkeys(targets))  # the pull-only jobs repeat an image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("git_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("commit", nargs="?", default="HEAD")
    parser.add_argument("--upstream", action="append", default=[], metavar="IMAGE=STAND_IN")
    args = parser.parse_args()
    stand_ins = dict(item.split("=", 1) for item in args.upstream)
    archive = subprocess.run(
        ["git", "--git-dir", str(args.git_dir), "archive", args.commit, "images", ".github"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(args.out, filter="data")
    for dockerfile in (args.out / "images").glob("*/Dockerfile"):
        dockerfile.write_text(HEADER + dockerfile.read_text())
    workflow = yaml.safe_load((args.out / ".github/workflows/docker.yaml").read_text())
    (args.out / "docker-bake.hcl").write_text(bake_text(workflow, stand_ins))
    subprocess.run(["git", "init", "-q", "-b", "master", str(args.out)], check=True)
    print(args.out / "docker-bake.hcl")


if __name__ == "__main__":
    main()
