"""Each lint check is declared once (tasks/lint/__init__.py): its name, what it finds and
its hook. The hooks file, --only, the help and the README's table follow from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tasks import cli, readme
from tasks.console import ZoneError
from tasks.lint import CHECKS, DECLARED, HELP, HOOKS, OURS, hooks_file, run
from tasks.settings import Settings
from tasks.tests.support import PROJECT

_EVERY_HOOKS = {"id", "name", "entry", "language", "priority"}


def test_names_and_hook_ids_are_unique_and_derived() -> None:
    assert len(set(CHECKS)) == len(CHECKS) == len(DECLARED)
    assert len(set(HOOKS.values())) == len(CHECKS)
    for check in DECLARED:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", check.id), check.id
        assert check.help.strip() and "\n" not in check.help, check.name


def test_the_hooks_file_is_written_from_the_declarations() -> None:
    assert hooks_file.stale() is None, "run `nox -s docs`"
    config = yaml.safe_load(hooks_file.PATH.read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [(hook["id"], hook["name"]) for hook in hooks] == [(c.id, c.name) for c in DECLARED]
    for hook, check in zip(hooks, DECLARED, strict=True):
        assert hook["entry"] == check.command
        selection = {k: v for k, v in hook.items() if k not in _EVERY_HOOKS}
        # a check of the repository as a whole gets no files and always runs
        whole = {"pass_filenames": False, "always_run": True} if check.repository else {}
        assert selection == dict(check.hook) | whole
        assert (hook["language"], hook["priority"]) == ("system", 0)


def test_a_stale_hooks_file_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "hooks.yaml"
    copy.write_text(hooks_file.render().replace("id: layers", "id: layer-sizes"))
    monkeypatch.setattr(hooks_file, "PATH", copy)
    assert "run `nox -s docs`" in (hooks_file.stale() or "")
    hooks_file.write()
    assert hooks_file.stale() is None


def test_our_hooks_run_the_checks_of_ours() -> None:
    """Every hook entry of ours names a check that tasks/lint/hook.py or run.check runs."""
    ours = [check.name for check in DECLARED if check.command.startswith(OURS)]
    with pytest.raises(ZoneError) as raised:
        run.check("no such check", Settings(root=PROJECT), [])
    in_run = raised.value.hint.removeprefix("ours: ").split(", ")
    assert sorted([*in_run, "hadolint", "shellcheck"]) == sorted(ours)


def test_only_and_the_help_name_every_check() -> None:
    top, _ = cli.parser("lint")
    lint = top._subparsers._group_actions[0].choices["lint"]  # type: ignore[union-attr]
    shown = lint.format_help()
    only = next(a for a in lint._actions if a.dest == "only")
    assert only.help == "run only this check (repeatable): " + ", ".join(CHECKS)
    for check in DECLARED:
        assert re.search(rf"^  {re.escape(check.name)} +\S", shown, re.M), check.name
    assert cli.COMMANDS["lint"].help == HELP
    assert all(name in HELP for name in CHECKS)


def test_an_unknown_check_is_refused_with_the_declared_list() -> None:
    with pytest.raises(ZoneError) as raised:
        run.run(Settings(root=PROJECT), only=["layer-sizes"])
    assert raised.value.message == "unknown check 'layer-sizes'"
    assert raised.value.hint == "known checks: " + ", ".join(CHECKS)


def test_the_readme_checks_table_is_the_declarations() -> None:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    part = next(part for part in readme.PARTS if part.name == "lint checks")
    assert part.begin in text and part.end in text
    assert readme.stale(PROJECT) is None, "run `nox -s docs`"
    rows = readme.checks_table().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [f"| `{name}`" for name in CHECKS]
