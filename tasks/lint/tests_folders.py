"""A tests/<name>/ folder that names no target: no plan ever runs its tests."""

from __future__ import annotations

from tasks.lint.finding import Finding
from tasks.planning import plan
from tasks.settings import Settings
from tasks.stack import bakefile

CHECK = "tests folders"


def check(settings: Settings) -> list[Finding]:
    graph = bakefile.load(settings.bake_path, environ={})
    return [
        Finding(warning.split(" ", 1)[0].rstrip("/"), 1, warning, CHECK)
        for warning in plan.orphan_tests(settings, graph)
    ]
