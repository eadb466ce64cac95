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
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks import cli, settings
from tasks.checkout import changes
from tasks.context import Context
from tasks.planning import plan
from tasks.tests.support import write


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


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_the_table_says_what_each_module_says(name: str) -> None:
    module = importlib.import_module(cli.COMMANDS[name].module)
    assert cli.COMMANDS[name].help == module.HELP
    assert callable(module.arguments) and callable(module.run)


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
