"""How the selftest's two workers share the tests (tasks/tests/schedule.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tasks.tests import schedule


def _item(path: str, *scopes: str) -> SimpleNamespace:
    """What `arrange` reads of a collected test: its file and its fixtures' scopes."""
    fixtures = {f"f{at}": [SimpleNamespace(scope=scope)] for at, scope in enumerate(scopes)}
    return SimpleNamespace(
        path=schedule.HERE / path, _fixtureinfo=SimpleNamespace(name2fixturedefs=fixtures)
    )


def test_a_file_with_a_module_fixture_is_one_unit_and_any_other_test_its_own() -> None:
    together = object.__new__(schedule.Together)  # _split_scope reads no state of the run
    retag = "tasks/tests/engine/test_retag.py"
    assert together._split_scope(f"{retag}::test_dry_run_says_what_and_tags_nothing") == retag
    alone = "tasks/tests/cli/test_lint.py::test_hadolint_passes_the_good_example"
    assert together._split_scope(alone) == alone


def test_the_longest_files_go_first_and_the_others_keep_their_order() -> None:
    names = ["unit/test_tags.py", "cli/test_lint.py", "unit/test_plan.py"]
    names += ["e2e/test_workflow_act.py", "unit/test_tags.py"]
    items = [_item(name, "function", "session") for name in names]
    schedule.arrange(items)  # type: ignore[arg-type]
    assert [item.path.relative_to(schedule.HERE).as_posix() for item in items] == [
        "e2e/test_workflow_act.py",
        "cli/test_lint.py",
        "unit/test_tags.py",
        "unit/test_plan.py",
        "unit/test_tags.py",
    ]


def test_a_module_fixture_outside_the_files_kept_together_stops_the_run() -> None:
    items = [_item("engine/test_retag.py", "module"), _item("unit/test_tags.py", "module")]
    with pytest.raises(pytest.UsageError, match=r"^unit/test_tags.py: its tests share a"):
        schedule.arrange(items)  # type: ignore[arg-type]


def test_the_files_named_are_there() -> None:
    named = schedule.TOGETHER | set(schedule.LONGEST_FIRST)
    assert sorted(name for name in named if not (schedule.HERE / name).is_file()) == []
    assert len(set(schedule.LONGEST_FIRST)) == len(schedule.LONGEST_FIRST)


@pytest.mark.parametrize("dist", ["loadfile", "load", "no"])
def test_any_other_dist_keeps_xdists_scheduler(pytestconfig: pytest.Config, monkeypatch, dist):
    monkeypatch.setattr(pytestconfig.option, "dist", dist)
    assert schedule.scheduler(pytestconfig, None) is None
