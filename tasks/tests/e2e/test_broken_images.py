"""`nox -s test` on images of the JupyterLab fixture stack broken on purpose: each fails
at the test that sees it, with its report, its screenshot, and no container left behind."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tasks.tests import jupyter_stack
from tasks.tests.image_runs import ours, run_test, survived

# A browser drives JupyterLab: its waits are sized for a machine that builds nothing
# meanwhile (a notebook cell once missed 120 s beside the other worker's builds). The two
# image-test files run after the engine's tiers, one beside the other.
pytestmark = pytest.mark.quiet


def _failed_tests(junit: Path) -> set[str]:
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    return {case.get("name") for case in cases if case.find("failure") is not None}


@pytest.mark.parametrize(
    ("broken", "failing_test", "selected"),
    [
        # The HTTP and kernel checks see these two: the suite without its browser tests
        # (the costliest: Chromium renders the lab) must fail.
        ("ignores-prefix", "test_prefix_given_at_run_time_is_honoured", "not browser"),
        ("dead-kernel", "test_python_kernel_runs_code", "not browser"),
        # The two below pass every HTTP and kernel check: only the browser sees them, and
        # the whole suite runs, every other test passing.
        ("lab-assets-missing", "test_lab_shows_its_launcher_and_a_notebook_runs_a_cell", ""),
        ("app-leaves-prefix", "test_each_proxied_app_stays_under_the_prefix", ""),
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
    selected: str,
) -> None:
    ref = jupyter_stack.broken(engine, fixture_tag, broken)
    before = ours(engine, ref)
    result = run_test(
        nox_envdir,
        "jupyterlab",
        "--tag",
        ref.rsplit(":", 1)[1],
        *(["--", "-m", selected] if selected else []),
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
    assert ours(engine, ref) - before == set()
    survived(bystander)


def test_ci_gets_junit_xml_and_pytest_args_pass_through(
    engine, fixture_tag: str, bystander, nox_envdir: Path, tmp_path: Path
) -> None:
    ref = jupyter_stack.broken(engine, fixture_tag, "dead-kernel")
    result = run_test(
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
    survived(bystander)
