"""The plan as `python -m tasks plan` and `nox -s plan` give it: each change scenario's
JSON, stdout alone, GitHub's outputs. The in-process plan is test_plan.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.tests.support import (
    UPSTREAM,
    clean_env,
    commit_all,
    git,
    run_in_process,
    run_nox,
    run_tasks,
    write,
)
from tasks.tests.unit.test_plan import (
    ALL,
    SERVED,
    edit_bake_file,
    new_target,
    on_branch,
    sas_gets_a_build_arg,
)

# (change made on a feature branch, committed or not) -> (build, test). Only served images
# (tests/general/) and stages with a tests/<stage>/ folder have tests to run.
SCENARIOS = {
    "leaf": (lambda r: write(r, "images/sas/stage.txt", "sas 2\n"), ["sas"], ["sas"]),
    "middle stage": (
        lambda r: write(r, "images/mid/stage.txt", "mid 2\n"),
        ["mid", "sas-kernel", "jupyterlab-cpu", "sas"],
        SERVED,
    ),
    "a file in a stage folder that nothing copies": (
        lambda r: write(r, "images/mid/new-tool.sh", "echo\n"),
        [],
        [],
    ),
    "folder alias": (
        lambda r: write(r, "images/jupyterlab/stage.txt", "2\n"),
        ["jupyterlab-cpu"],
        ["jupyterlab-cpu"],
    ),
    "markdown only": (lambda r: write(r, "images/mid/README.md", "# mid\n"), [], []),
    "image tests only": (lambda r: write(r, "tests/sas/test_sas.py", "x = 1\n"), [], ["sas"]),
    "tests by folder name": (
        lambda r: write(r, "tests/jupyterlab/test_lab.py", "x = 1\n"),
        [],
        ["jupyterlab-cpu"],
    ),
    "tests of an intermediate stage": (
        lambda r: write(r, "tests/mid/test_mid.py", "x = 1\n"),
        [],
        ["mid"],
    ),
    "general tests": (lambda r: write(r, "tests/general/test_more.py", "x = 1\n"), [], SERVED),
    "conftest": (lambda r: write(r, "tests/conftest.py", "x = 1\n"), [], SERVED),
    "outside every stage": (lambda r: write(r, "docs/notes.txt", "x\n"), [], []),
    "bake file: one target": (sas_gets_a_build_arg, ["sas"], ["sas"]),
    "bake file: variable default": (
        lambda r: edit_bake_file(r, UPSTREAM, f"{UPSTREAM}-new"),
        ALL,
        SERVED,
    ),
    "bake file: comment only": (
        lambda r: edit_bake_file(r, "# The upstream image", "# The upstream (pinned) image"),
        [],
        [],
    ),
    "bake file: new target": (new_target, ["rstudio"], ["rstudio"]),
}


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "uncommitted"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenarios(
    stack: Path,
    scenario: str,
    committed: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change, build, test = SCENARIOS[scenario]
    on_branch(stack)
    change(stack)
    if committed:
        commit_all(stack)
    # The JSON of each scenario, in this process; a process of its own prints it below.
    argv = ("plan", "--json", "--base", "master")
    result = run_in_process(stack, *argv, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["build"] == build
    assert document["test"] == test
    assert [s["name"] for s in document["stages"] if s["changed"]] == build
    assert document["base_ref"] == "master"
    assert document["merge_base"] == git(stack, "rev-parse", "master")


def test_json_on_stdout_alone(stack: Path) -> None:
    on_branch(stack, "feature/x")
    write(stack, "images/sas/stage.txt", "2\n")
    result = run_tasks(stack, "plan", "--json", "--base", "master", "--repo", "localhost:5000/z")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {"base_ref", "merge_base", "branch", "sha", "stages", "build", "test"}
    assert document["branch"] == "feature-x"
    assert document["build"] == ["sas"]
    sas = document["stages"][-1]
    assert set(sas) >= {"name", "context", "parent", "changed", "reasons", "action", "tags"}
    assert sas["parent"] == "sas-kernel"
    assert sas["context"] == "images/sas"
    assert sas["tags"][0] == "localhost:5000/z/sas:feature-x"
    assert "Plan for feature-x" in result.stderr


def test_github_output(stack: Path, tmp_path: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas_kernel/stage.txt", "2\n")
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n")
    env = clean_env(GITHUB_OUTPUT=str(output))
    result = run_tasks(stack, "plan", "--github-output", "--base", "master", env=env)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["earlier"] == "1"
    assert json.loads(lines["build"]) == ["sas-kernel", "jupyterlab-cpu", "sas"]
    assert json.loads(lines["test"]) == ["jupyterlab-cpu", "sas"]
    matrix = json.loads(lines["matrix"])
    assert [job["stage"] for job in matrix["include"]] == ["sas-kernel", "jupyterlab-cpu", "sas"]
    assert matrix["include"][0]["parent"] == "mid"
    # One matrix per build level, in graph order; served images are tested in their job.
    level1 = json.loads(lines["level1"])["include"]
    level2 = json.loads(lines["level2"])["include"]
    assert [(j["stage"], j["test"]) for j in level1] == [("sas-kernel", False)]
    assert [(j["stage"], j["test"]) for j in level2] == [("jupyterlab-cpu", True), ("sas", True)]
    assert all(lines[f"level{n}"] == "" for n in range(3, 7))
    assert json.loads(lines["reuse"]) == ["base", "mid"]
    assert json.loads(lines["retest"]) == []
    assert lines["sha"] == git(stack, "rev-parse", "HEAD")


def test_retest_lists_served_images_whose_tests_alone_changed(stack: Path, tmp_path: Path) -> None:
    on_branch(stack)
    write(stack, "tests/sas/test_more.py", "def test_x():\n    pass\n")
    output = tmp_path / "github_output"
    env = clean_env(GITHUB_OUTPUT=str(output))
    result = run_tasks(stack, "plan", "--github-output", "--base", "master", env=env)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["retest"]) == ["sas"]
    assert json.loads(lines["build"]) == []
    assert lines["level1"] == ""


def test_github_output_outside_github_is_refused(stack: Path) -> None:
    result = run_tasks(stack, "plan", "--github-output")
    assert result.returncode == 2
    assert "GITHUB_OUTPUT" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_session_through_nox(tmp_path: Path, nox_envdir: Path) -> None:
    from tasks.tests.support import make_stack

    repo = make_stack(tmp_path / "with-runner", with_runner=True)
    on_branch(repo)
    write(repo, "images/mid/stage.txt", "2\n")
    result = run_nox(repo, nox_envdir, "plan", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["build"] == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def test_a_graph_deeper_than_six_plans_with_ci_levels_raised(tmp_path: Path) -> None:
    from tasks.tests.unit.test_generated_checks import chain

    repo = tmp_path / "deep"
    write(repo, "docker-bake.hcl", chain(8))
    write(repo, "images/s1/Dockerfile", "FROM busybox:1.36\n")
    for n in range(2, 9):
        write(repo, f"images/s{n}/Dockerfile", f"FROM s{n - 1}\nRUN true\n")
    write(repo, "pyproject.toml", '[tool.zone]\nregistry = "localhost:5000/z"\nci-levels = 8\n')
    git(repo, "init", "-q", "-b", "master")
    commit_all(repo, "eight levels")
    output = tmp_path / "github_output"
    env = clean_env(GITHUB_OUTPUT=str(output))
    result = run_tasks(repo, "plan", "--github-output", "--all", env=env)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert [key for key in lines if key.startswith("level")] == [f"level{n}" for n in range(1, 9)]
    assert [job["stage"] for job in json.loads(lines["level8"])["include"]] == ["s8"]
    # The setting at its default: one message naming the jobs and the setting to add.
    write(repo, "pyproject.toml", '[tool.zone]\nregistry = "localhost:5000/z"\n')
    result = run_tasks(repo, "plan", "--github-output", "--all", env=env)
    assert result.returncode != 0
    assert "form 8 levels, but the workflow builds at most 6" in result.stderr
    assert "set ci-levels = 8" in result.stderr
    assert "Traceback" not in result.stderr
