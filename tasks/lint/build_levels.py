"""The docker workflow has one build job per level of the stage graph, each on its level.

The plan writes `level1` ... `levelN`, N being the setting `ci-levels` (the repository's
count of level jobs); a graph as deep as D needs jobs build-1 ... build-D, each reading its
level and needing the one before, and N at least D. A job missing, or reading another
level, would silently leave stages unbuilt. Jobs for levels the graph does not reach yet
are allowed (they build nothing), if they are right.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.bakefile import BakeGraph
from tasks.lint.finding import Finding
from tasks.plan import more_levels

WORKFLOW = ".github/workflows/docker.yaml"
CHECK = "build levels"
PLAN_JOB = "plan"


def depth(graph: BakeGraph) -> int:
    """How many levels the graph has: the longest chain of stages, root to leaf."""
    level: dict[str, int] = {}
    for name, stage in graph.stages.items():  # build order: parents first
        level[name] = 1 + max((level[p] for p in stage.parents), default=0)
    return max(level.values(), default=0)


def check(root: Path, graph: BakeGraph, ci_levels: int) -> list[Finding]:
    """`ci_levels`: the setting ci-levels, how many levels the plan writes."""
    path = root / WORKFLOW
    if not path.is_file():
        return []
    try:
        jobs = (yaml.safe_load(path.read_text()) or {}).get("jobs") or {}
    except yaml.YAMLError as exc:
        return [Finding(WORKFLOW, 1, f"not valid YAML: {exc}", CHECK)]
    lines = path.read_text().splitlines()
    levels = depth(graph)
    findings = []
    if levels > ci_levels:
        findings.append(
            Finding(
                WORKFLOW,
                1,
                f"the stage graph ({graph.source}) has {levels} levels, but the plan outputs "
                f"{ci_levels} (setting [tool.zone] ci-levels): " + more_levels(ci_levels, levels),
                CHECK,
            )
        )
    exported = _exported(jobs.get(PLAN_JOB))
    for number in range(1, max(levels, ci_levels) + 1):
        job = jobs.get(f"build-{number}")
        wanted = f"needs.plan.outputs.level{number}"
        if job is None:
            if number <= levels:
                findings.append(
                    Finding(
                        WORKFLOW,
                        1,
                        f"no job build-{number}: the stage graph ({graph.source}) has {levels} "
                        f"levels and level {number} is never built; add a job build-{number} "
                        f"(needs: build-{number - 1}, matrix: ${{{{ {wanted} }}}})",
                        CHECK,
                    )
                )
        elif wanted not in str(job.get("with", {}).get("matrix", "")):
            findings.append(
                Finding(
                    WORKFLOW,
                    _line_of(lines, f"build-{number}:"),
                    f"build-{number} does not build {wanted}",
                    CHECK,
                )
            )
        elif number > 1 and f"build-{number - 1}" not in _needs(job):
            # Otherwise it runs beside the level before and rebuilds the parents it lacks.
            findings.append(
                Finding(
                    WORKFLOW,
                    _line_of(lines, f"build-{number}:"),
                    f"build-{number} must need build-{number - 1}",
                    CHECK,
                )
            )
        elif exported is not None and f"level{number}" not in exported:
            # The job reads an output the plan job never passes on: always empty.
            findings.append(
                Finding(
                    WORKFLOW,
                    _line_of(lines, f"{PLAN_JOB}:"),
                    f"the {PLAN_JOB} job's outputs lack level{number}, which build-{number} "
                    f"reads; add level{number}: ${{{{ steps.plan.outputs.level{number} }}}}",
                    CHECK,
                )
            )
    extra = f"build-{max(levels, ci_levels) + 1}"
    if extra in jobs:
        findings.append(
            Finding(
                WORKFLOW,
                _line_of(lines, f"{extra}:"),
                f"{extra}: the plan outputs {ci_levels} levels (setting [tool.zone] ci-levels); "
                f"set ci-levels to the number of build-N jobs in pyproject.toml",
                CHECK,
            )
        )
    return findings


def _exported(plan_job: object) -> set[str] | None:
    """The outputs the plan job passes on; None when it declares none (not this shape)."""
    if not isinstance(plan_job, dict) or not isinstance(plan_job.get("outputs"), dict):
        return None
    return set(plan_job["outputs"])


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _line_of(lines: list[str], text: str) -> int:
    return next((n for n, line in enumerate(lines, 1) if line.strip() == text), 1)
