"""mid keeps the upstream's R: the build step that pins it, run here with a stand-in R.

Replacing the upstream's R in mid rewrote every upstream R package into mid's conda
layer while the old copies stayed below (about 2 GB pulled twice). mid now writes the
upstream's R version into conda-meta/pinned before its one conda install, the way the
upstream pins its Python. The real images cannot be built here, so the step's own shell
lines are taken from the Dockerfile and run with bash against a stand-in `Rscript`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tasks.tests.support import PROJECT

MID_DOCKERFILE = PROJECT / "images/mid/Dockerfile"


def conda_run() -> str:
    """The text of mid's RUN instruction that runs `mamba install`, continuations joined."""
    text = MID_DOCKERFILE.read_text().replace("\\\n", " ")
    lines = text.splitlines()
    runs = [line for line in lines if line.startswith("RUN ") and "mamba install" in line]
    assert len(runs) == 1, runs
    return runs[0].removeprefix("RUN ")


def test_the_upstream_r_version_is_pinned_before_the_install(tmp_path: Path) -> None:
    run = conda_run()
    before_install = run.split("&& mamba install", 1)[0]
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    rscript = bin_folder / "Rscript"
    rscript.write_text("#!/bin/bash\nprintf '%s' 4.3.3\n")  # as R 4.3.3 answers the probe
    rscript.chmod(0o755)
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "conda-meta/pinned").write_text("python 3.11.*\n")  # the upstream's own pin
    search = f"{bin_folder}:{os.environ['PATH']}"
    environment = {**os.environ, "PATH": search, "CONDA_DIR": str(conda)}
    outcome = subprocess.run(
        ["bash", "-o", "pipefail", "-c", before_install + ' && echo "${r_version}"'],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.strip() == "4.3.3"
    assert (conda / "conda-meta/pinned").read_text() == "python 3.11.*\nr-base 4.3.3\n"


def test_no_r_without_an_upstream_r(tmp_path: Path) -> None:
    """No R in the parent: the step stops instead of pinning an empty version."""
    run = conda_run()
    before_install = run.split("&& mamba install", 1)[0]
    conda = tmp_path / "conda"
    (conda / "conda-meta").mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    environment = {"PATH": str(empty), "CONDA_DIR": str(conda)}
    outcome = subprocess.run(
        ["/bin/bash", "-o", "pipefail", "-c", before_install],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome.returncode != 0
    assert not (conda / "conda-meta/pinned").exists()


def test_r_is_neither_replaced_nor_rpy2_rebuilt() -> None:
    run = conda_run()
    install = run.split("&& mamba install", 1)[1]
    # r-base appears without a version of its own (the pin decides), and nothing is removed
    # or pip-built in its place; the build checks that R kept its version.
    assert re.search(r"'r-base'\s", install)
    assert not re.search(r"r-base[=<>]", install)
    assert "mamba remove" not in run
    assert "rpy2==" not in run
    assert 'R --version | grep -q "R version ${r_version} "' in run
    assert "import rpy2.robjects" in run
