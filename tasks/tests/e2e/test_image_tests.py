"""`nox -s test` on the JupyterLab fixture stack: passes on good images, fails on broken ones,
and never touches a container that is not its own."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.tests import jupyter_stack
from tasks.tests.support import PROJECT, clean_env, commit_all, git, run_nox, run_tasks

# A browser drives JupyterLab in two containers at once: its waits are sized for this run
# alone, not beside the other worker's builds (a notebook cell once missed 120 s there).
pytestmark = pytest.mark.serial

OURS = "io.zone.project=zone-kubeflow-containers"


@pytest.fixture(scope="module")
def bystander(engine: docker.DockerClient) -> Iterator[list]:
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


def _ours(engine: docker.DockerClient, *refs: str) -> set[str]:
    """This project's containers of the images `refs`: other checkouts testing other builds
    on the same engine at the same time make theirs of other tags."""
    # sparse: no inspect per container, which fails for one another run removes meanwhile.
    mine = engine.containers.list(all=True, sparse=True, filters={"label": OURS})
    return {c.id for c in mine if c.attrs["Image"] in refs}


def _test(nox_envdir: Path, *posargs: str, **env: str):
    return run_nox(
        PROJECT, nox_envdir, "test", "--repo", jupyter_stack.REPO, *posargs, env=clean_env(**env)
    )


def _survived(bystander: list) -> None:
    for container in bystander:
        container.reload()
        assert container.status == "running", "a test run touched a container not its own"


def test_every_final_image_passes_and_leaves_nothing_behind(
    engine, fixture_tag: str, bystander, nox_envdir: Path
) -> None:
    finals = [f"{jupyter_stack.REPO}/{name}:{fixture_tag}" for name in jupyter_stack.FINAL]
    before = _ours(engine, *finals)
    result = _test(nox_envdir, "--tag", fixture_tag)  # no IMAGE: every final image
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "jupyterlab-cpu: passed" in output
    assert "sas: passed" in output
    assert re.search(r"\b12 passed\b", output), output  # jupyterlab-cpu: 9 general + 3
    assert _ours(engine, *finals) - before == set(), "the run left containers behind"
    _survived(bystander)


def _failed_tests(junit: Path) -> set[str]:
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    return {case.get("name") for case in cases if case.find("failure") is not None}


@pytest.mark.parametrize(
    ("broken", "failing_test"),
    [
        ("ignores-prefix", "test_prefix_given_at_run_time_is_honoured"),
        ("dead-kernel", "test_python_kernel_runs_code"),
        # The two below pass every HTTP and kernel check: only the browser sees them.
        ("lab-assets-missing", "test_lab_shows_its_launcher_and_a_notebook_runs_a_cell"),
        ("app-leaves-prefix", "test_each_proxied_app_stays_under_the_prefix"),
    ],
)
def test_a_broken_image_fails(
    engine,
    fixture_tag: str,
    bystander,
    nox_envdir: Path,
    tmp_path: Path,
    broken: str,
    failing_test: str,
) -> None:
    ref = jupyter_stack.broken(engine, fixture_tag, broken)
    before = _ours(engine, ref)
    result = _test(
        nox_envdir,
        "jupyterlab",
        "--tag",
        ref.rsplit(":", 1)[1],
        CI="true",
        ZONE_TEST_RESULTS=str(tmp_path),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    # A test fails, or its server never becomes ready (an error in the fixture).
    assert re.search(rf"(FAILED|ERROR) tests/general/\S+::{failing_test}\b", output), output
    assert "image tests failed for jupyterlab-cpu" in output
    if failing_test.startswith(("test_lab_", "test_each_proxied_app")):
        assert _failed_tests(tmp_path / "jupyterlab-cpu.xml") == {failing_test}, output
        # The page as it was when the browser test failed, beside the JUnit report.
        shot = tmp_path / f"jupyterlab-cpu-{failing_test}.png"
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), output
    assert _ours(engine, ref) - before == set()
    _survived(bystander)


def test_ci_gets_junit_xml_and_pytest_args_pass_through(
    engine, fixture_tag: str, bystander, nox_envdir: Path, tmp_path: Path
) -> None:
    ref = jupyter_stack.broken(engine, fixture_tag, "dead-kernel")
    result = _test(
        nox_envdir,
        "jupyterlab-cpu",
        "--tag",
        ref.rsplit(":", 1)[1],
        "--",
        "-m",
        "smoke",
        CI="true",
        ZONE_TEST_RESULTS=str(tmp_path),
    )
    assert result.returncode != 0, result.stdout + result.stderr
    suite = ElementTree.parse(tmp_path / "jupyterlab-cpu.xml").getroot().find("testsuite")
    assert suite is not None
    # -m smoke: the three smoke tests ran, one failed (the kernel cannot start).
    assert (int(suite.get("tests")), int(suite.get("failures"))) == (3, 1)
    _survived(bystander)


def test_a_missing_browser_fails_the_browser_tests_with_the_install_command(
    fixture_tag: str, bystander, nox_envdir: Path, tmp_path: Path
) -> None:
    result = _test(
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
    _survived(bystander)


def test_a_missing_image_names_the_bake_command(engine, bystander) -> None:
    result = run_tasks(PROJECT, "test", "sas", "--repo", jupyter_stack.REPO, "--tag", "absent")
    assert result.returncode == 2
    assert "zone-fixture/sas:absent is not in the local Docker engine" in result.stderr
    assert "nox -s bake -- sas" in result.stderr and "--pull" in result.stderr
    assert "Traceback" not in result.stderr
    _survived(bystander)


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
    _survived(bystander)
