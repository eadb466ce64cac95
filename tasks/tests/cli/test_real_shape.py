"""The runner on a repository shaped like the original project (tasks/tests/real_shape.py).

Args-only parents with bare tags, inputs from what each Dockerfile reads, tests of
intermediate stages: every commit of its history is planned against its parent and must
give exactly the build and test sets the commit declares; `bake -- sas` must build the
whole chain, each child linked to its parent; the lint must find exactly what was planted.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from tasks.tests import real_shape
from tasks.tests.support import clean_env, git, run_in_process, run_tasks

# bake lets same-name environment variables override the bake file's; wide lines, so
# that findings are never wrapped.
ENV = {k: v for k, v in clean_env(COLUMNS="500").items() if k not in ("REPO", "TAG")}
CHAIN = ["base", "mid", "rstudio", "sas-kernel", "sas"]
FINDING = re.compile(r"^[ \t]*(?:\S*/)?((?:images|\.github)/[^:\s]+):(\d+): ", re.MULTILINE)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[real_shape.Commit]]:
    repo = tmp_path_factory.mktemp("real-shape") / "repo"
    return repo, real_shape.make(repo)


def _id(index: int) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", real_shape.HISTORY[index].message.lower())
    return f"{index + 1:02d}-{words.strip('-')[:40]}"


def disagreement(commit: real_shape.Commit, plan: dict) -> str:
    """What a person needs to see when a plan is wrong: the commit, both sets, the reasons."""
    lines = [
        f"commit {commit.sha[:8]}: {commit.message}",
        f"  build expected {sorted(commit.build)}",
        f"        planned  {sorted(plan['build'])}",
        f"  test  expected {sorted(commit.test)}",
        f"        planned  {sorted(plan['test'])}",
    ]
    lines += [
        f"  {stage['name']}: {'; '.join(stage['reasons'])}"
        for stage in plan["stages"]
        if stage["reasons"]
    ]
    return "\n".join(lines)


def test_history_is_long_and_varied() -> None:
    steps = real_shape.HISTORY
    assert len(steps) >= 30
    assert any(not s.direct and not s.retest for s in steps)  # commits that change nothing
    assert any(s.retest and not s.direct for s in steps)  # test-only commits
    assert {name for s in steps for name in s.direct} >= set(real_shape.PARENTS)


@pytest.mark.parametrize("index", range(len(real_shape.HISTORY)), ids=_id)
def test_plan_of_each_commit(
    history: tuple[Path, list[real_shape.Commit]],
    index: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, commits = history
    commit = commits[index]
    git(repo, "checkout", "-q", commit.sha)
    # In this process: what is tested is the plan, not the exit path (test_plan_cli.py).
    argv = ("plan", "--base", commit.parent, "--json")
    result = run_in_process(repo, *argv, env=ENV, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    planned = (set(plan["build"]), set(plan["test"]))
    assert planned == (commit.build, commit.test), disagreement(commit, plan)
    # The reasons say why: the path and what reads it (`COPY, Dockerfile:17`), or that
    # the Dockerfile could not tell and every file of the context counts.
    reasons = {stage["name"]: " | ".join(stage["reasons"]) for stage in plan["stages"]}
    for stage, why in commit.why.items():
        assert why in reasons[stage], disagreement(commit, plan)


@pytest.mark.parametrize("where", ["first", "last"])
def test_bake_sas_builds_the_linked_chain(
    history: tuple[Path, list[real_shape.Commit]], tmp_path: Path, where: str
) -> None:
    """First commit: args-only parents; last: with the `contexts` links of the migration."""
    repo, commits = history
    sha = commits[0].parent if where == "first" else commits[-1].sha
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", sha)
    result = run_tasks(clone, "bake", "sas", "--print", env=ENV)
    assert result.returncode == 0, result.stderr
    targets = json.loads(result.stdout)["target"]
    assert sorted(targets) == sorted(CHAIN)
    for parent, child in itertools.pairwise(CHAIN):
        # FROM ${BASE_IMAGE} = FROM <parent>: the named context of that key, never a local
        # image or Docker Hub's.
        assert targets[child]["args"]["BASE_IMAGE"] == parent
        assert targets[child]["contexts"] == {parent: f"target:{parent}"}, targets[child]
    assert "contexts" not in targets["base"]


def test_lint_finds_exactly_the_planted_problems(
    history: tuple[Path, list[real_shape.Commit]],
) -> None:
    """Planted: apt lists left behind, a pip cache, a chmod -R over the home folder that
    earlier layers filled (in a RUN that also runs mkdir), an `ARG SRC_ACCOUNT_KEY` and
    a workflow that sets it from a secret. Not findings: RUNs that end with the base
    stage's clean-layer.sh, a pip cache removed with `rm -rf $HOME/.cache/*`, a key's
    fingerprint as a build arg, a build arg set from `vars.*`."""
    repo, commits = history
    git(repo, "checkout", "-q", commits[-1].sha)
    folders = [str(repo / "images"), str(repo / ".github")]
    result = run_tasks(repo, "lint", *folders, "--only", "layers", "--only", "secrets", env=ENV)
    found = {(path, int(line)) for path, line in FINDING.findall(result.stderr)}
    assert found == real_shape.planted_lines(repo), result.stderr
    assert result.returncode == 1, result.stderr
