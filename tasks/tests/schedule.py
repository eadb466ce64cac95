"""How `nox -s selftest` shares the tests between its two workers (`--dist loadgroup`).

The tests of a file that makes a fixture once per module (a stack built and pushed, a
registry answering) run together on one worker, so the fixture is still made once; every
other test goes on its own to whichever worker is free. The longest files are handed out
first: a worker given a four-minute test near the end keeps the whole run waiting.

pytest-xdist's own `loadgroup` reads `xdist_group` marks through a node id pytest 9 no
longer lets it change (every test would be sent alone: pytest-xdist#1386, its fix #1388
not merged yet), so the grouping is ours: the
controller that hands out the tests collects none, hence the list of files by name, and
each worker's collection checks that the list is complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

HERE = Path(__file__).parent
TIERS_ROOT = "tasks/tests/"
SHARED_SCOPES = {"module", "package", "class"}
# The files whose tests share a fixture made once for the file.
TOGETHER = {
    "cli/test_index_answers.py",
    "cli/test_real_shape.py",
    "e2e/test_adoption.py",
    "e2e/test_broken_images.py",
    "e2e/test_claims.py",
    "e2e/test_image_scripts.py",
    "e2e/test_image_tests.py",
    "e2e/test_verified_reuse.py",
    "engine/test_cost.py",
    "engine/test_estimate.py",
    "engine/test_pins.py",
    "engine/test_push.py",
    "engine/test_release_notes.py",
    "engine/test_retag.py",
    "engine/test_upstream_config.py",
}
# The files whose tests take longest on one worker (measured with --durations=0 on this
# 2-core machine), longest first; the files not named follow in their usual order. A
# worker starts a test only once it holds the next one too: the unit queued behind the
# act run waits for it, so a file of single tests follows it, never a whole file's group.
LONGEST_FIRST = (
    "e2e/test_workflow_act.py",  # 4 min alone on a quiet machine, 17 min at load 15
    "e2e/test_unpinned.py",
    "engine/test_push.py",
    "e2e/test_image_scripts.py",
    "engine/test_retag.py",
    "e2e/test_verified_reuse.py",
    "e2e/test_claims.py",
    "engine/test_release_notes.py",
    "e2e/test_dev.py",
    "engine/test_pins.py",
    "engine/test_cost.py",
    "cli/test_lint.py",
)


def _file(item: pytest.Item) -> str:
    return item.path.relative_to(HERE).as_posix()


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # only Python test functions have one
    definitions = info.name2fixturedefs.values() if info else ()
    return any(fixture.scope in SHARED_SCOPES for found in definitions for fixture in found)


def arrange(items: list[pytest.Item]) -> None:
    """Put the longest files first, and refuse a module fixture in a file not TOGETHER."""
    alone = sorted({_file(item) for item in items if _shares_a_module_fixture(item)} - TOGETHER)
    if alone:
        raise pytest.UsageError(
            f"{', '.join(alone)}: its tests share a module fixture; add the file to TOGETHER "
            "in tasks/tests/schedule.py so that one worker makes it once"
        )
    rank = {name: at for at, name in enumerate(LONGEST_FIRST)}
    # Stable: a file's tests keep their order, and so do the files not named.
    items.sort(key=lambda item: rank.get(_file(item), len(rank)))


class Together(LoadScopeScheduling):
    """A file of TOGETHER is one unit of work; any other test is a unit of its own."""

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return path if path.removeprefix(TIERS_ROOT) in TOGETHER else nodeid


def scheduler(config: pytest.Config, log: object) -> Together | None:
    """Ours for `--dist loadgroup`; pytest-xdist's own for any other --dist."""
    if config.getvalue("dist") != "loadgroup":
        return None
    config.option.loadscopereorder = False  # the order `arrange` chose, not by test count
    return Together(config, log)
