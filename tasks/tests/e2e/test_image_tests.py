"""`nox -s test` on the final images of the JupyterLab fixture stack: every one passes,
`--changed` picks by the tests changed, a missing image or browser is one message; a run
never touches a container that is not its own (test_broken_images.py: broken ones fail)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks.tests import jupyter_stack
from tasks.tests.image_runs import ours, run_test, survived
from tasks.tests.support import PROJECT, commit_all, git, run_tasks

# A browser drives JupyterLab: its waits are sized for a machine that builds nothing
# meanwhile (a notebook cell once missed 120 s beside the other worker's builds). The two
# image-test files run after the engine's tiers, one beside the other.
pytestmark = pytest.mark.quiet


def test_every_final_image_passes_and_leaves_nothing_behind(
    engine, fixture_tag: str, bystander, nox_envdir: Path
) -> None:
    finals = [f"{jupyter_stack.REPO}/{name}:{fixture_tag}" for name in jupyter_stack.FINAL]
    before = ours(engine, *finals)
    result = run_test(nox_envdir, "--tag", fixture_tag)  # no IMAGE: every final image
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "jupyterlab-cpu: passed" in output
    assert "sas: passed" in output
    assert re.search(r"\b12 passed\b", output), output  # jupyterlab-cpu: 9 general + 3
    assert ours(engine, *finals) - before == set(), "the run left containers behind"
    survived(bystander)


def test_a_missing_browser_fails_the_browser_tests_with_the_install_command(
    fixture_tag: str, bystander, nox_envdir: Path, tmp_path: Path
) -> None:
    result = run_test(
        nox_envdir,
        "jupyterlab",
        "--tag",
        fixture_tag,
        "--",
        "-m",
        "browser",
        ZONE_CHROMIUM=str(tmp_path / "no-chromium-here"),
        ZONE_TEST_RESULTS=str(tmp_path),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "install chromium: bash .ci/provision-docker.sh" in output, output
    assert re.search(r"\b2 errors?\b", output), output  # both browser tests, neither skipped
    assert "skipped" not in output, output
    survived(bystander)


def test_a_missing_image_names_the_bake_command(engine, bystander) -> None:
    result = run_tasks(PROJECT, "test", "sas", "--repo", jupyter_stack.REPO, "--tag", "absent")
    assert result.returncode == 2
    assert "zone-fixture/sas:absent is not in the local Docker engine" in result.stderr
    assert "nox -s bake -- sas" in result.stderr and "--pull" in result.stderr
    assert "Traceback" not in result.stderr
    survived(bystander)


def test_changed_tests_only_the_images_whose_tests_changed(
    fixture_tag: str, bystander, tmp_path: Path
) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    shutil.copy(PROJECT / "docker-bake.hcl", repo)
    shutil.copytree(jupyter_stack.FIXTURE / "images", repo / "images")
    shutil.copytree(PROJECT / "tests", repo / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q", "-b", "master")
    commit_all(repo, "stack")
    git(repo, "checkout", "-q", "-b", "feature")
    with (repo / "tests" / "sas" / "test_sas.py").open("a") as handle:
        handle.write("# a changed test retests its image, and only it\n")
    result = run_tasks(
        repo,
        "test",
        "--changed",
        "--base",
        "master",
        "--repo",
        jupyter_stack.REPO,
        "--tag",
        fixture_tag,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sas: passed" in result.stderr
    assert "jupyterlab-cpu" not in result.stderr
    survived(bystander)
