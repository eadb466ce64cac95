"""The command table and the run context: each command's module loads only when it runs,
the top-level help lists the table, --extra-tag and its old spelling, and one Context
opens git once and makes the plan once, however often a command asks for it."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks import changes, cli, plan, settings
from tasks.context import Context
from tasks.tests.support import PROJECT, clean_env, run_tasks, write

DEPRECATED = "--tag on plan is deprecated: use --extra-tag"


@pytest.fixture(autouse=True)
def laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs see no CI variables, as the subprocesses' clean_env() gives."""
    for name in [n for n in os.environ if n.startswith(("GITHUB_", "ZONE_")) or n == "CI"]:
        monkeypatch.delenv(name)


def _context(stack: Path, *argv: str) -> Context:
    top, _ = cli.parser(argv[0])
    args = top.parse_args(list(argv))
    return Context(cli.with_flags(settings.load(stack), args), args)


def counted(function: Callable, calls: list[str]) -> Callable:
    """`function` as it is, with each call noted in `calls`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        calls.append(function.__name__)
        return function(*args, **kwargs)

    return wrapper


def stages_tags(output: str) -> list[list[str]]:
    return [[ref.rsplit(":", 1)[1] for ref in s["tags"]] for s in json.loads(output)["stages"]]


def test_top_level_help_lists_every_command(stack: Path) -> None:
    result = run_tasks(stack, "--help", env=clean_env(COLUMNS="1000"))  # one line each
    assert result.returncode == 0, result.stderr
    listed = " ".join(result.stdout.split())
    for name, command in cli.COMMANDS.items():
        assert f"{name} {command.help}" in listed


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_the_table_says_what_each_module_says(name: str) -> None:
    module = importlib.import_module(cli.COMMANDS[name].module)
    assert cli.COMMANDS[name].help == module.HELP
    assert callable(module.arguments) and callable(module.run)


def test_plan_json_loads_neither_the_docker_sdk_nor_requests(stack: Path, tmp_path: Path) -> None:
    report = tmp_path / "modules.json"
    script = textwrap.dedent(
        """
        import json, runpy, sys
        report = sys.argv[1]
        sys.argv = ["tasks", "plan", "--json"]
        try:
            runpy.run_module("tasks", run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code
        with open(report, "w") as handle:
            json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(report)],
        cwd=stack,
        env={**clean_env(), "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(report.read_text())
    assert loaded["code"] == 0, result.stderr
    heavy = [m for m in loaded["modules"] if m.split(".")[0] in ("docker", "requests", "urllib3")]
    assert heavy == []
    commands = [m for m in loaded["modules"] if m.startswith("tasks.commands.")]
    assert commands == ["tasks.commands.options", "tasks.commands.plan"]
    assert json.loads(result.stdout)["stages"]  # and the plan was made


def test_old_tag_spelling_still_works_with_one_note(stack: Path) -> None:
    old = run_tasks(stack, "plan", "--json", "--tag", "one", "--tag", "two")
    new = run_tasks(stack, "plan", "--json", "--extra-tag", "one", "--extra-tag", "two")
    assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
    assert old.stderr.count("deprecated") == 1, old.stderr
    assert DEPRECATED in " ".join(old.stderr.split())
    assert "deprecated" not in new.stderr
    assert stages_tags(old.stdout) == stages_tags(new.stdout)
    assert all(tags[-2:] == ["one", "two"] for tags in stages_tags(new.stdout))


def test_test_dev_and_push_keep_tag_as_the_image_to_use(stack: Path) -> None:
    for command in ("test", "dev", "push"):
        result = run_tasks(stack, command, "sas", "--tag", "a/b")
        assert "error: --tag 'a/b' is not a valid image tag" in result.stderr
        assert "deprecated" not in result.stderr
        assert "--extra-tag" not in run_tasks(stack, command, "--help").stdout


def test_one_context_opens_git_once_and_makes_the_plan_once(
    stack: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real plan of a real repository; the calls are only counted."""
    write(stack, "images/sas/stage.txt", "edited\n")  # dirty: the plan has a note to show
    calls: list[str] = []
    monkeypatch.setattr(plan, "make", counted(plan.make, calls))
    monkeypatch.setattr(changes, "open_checkout", counted(changes.open_checkout, calls))
    context = _context(stack, "bake", "sas", "--changed", "--base", "master")
    first = context.plan
    assert context.plan is first
    assert context.checkout is not None and context.checkout.top == stack.resolve()
    assert context.revision == f"{context.checkout.sha}-dirty"
    assert context.tagging.branch == first.branch == "master"
    assert calls == ["open_checkout", "make"]
    assert first.stage("sas").action == plan.Action.BUILD
    assert capsys.readouterr().err.count("uncommitted changes") == 1


def test_a_command_asks_the_context_and_git_is_opened_once(
    stack: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(plan, "make", counted(plan.make, calls))
    monkeypatch.setattr(changes, "open_checkout", counted(changes.open_checkout, calls))
    monkeypatch.chdir(stack)
    assert cli.main(["plan", "--json", "--base", "master"]) == 0
    assert calls == ["open_checkout", "make"]
    assert json.loads(capsys.readouterr().out)["base_ref"] == "master"


def test_a_context_outside_git(stack: Path) -> None:
    shutil.rmtree(stack / ".git")
    context = Context(settings.load(stack), argparse.Namespace())
    assert context.checkout is None
    assert context.revision == ""
    assert context.plan.sha is None and context.plan.branch == "local"
