"""The docker workflow has one build job per level the plan can output, each on its level.

The plan writes `level1` ... `levelN` (tasks.plan.CI_LEVELS); a job missing, or reading
another level, would silently leave stages unbuilt.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.lint.finding import Finding
from tasks.plan import CI_LEVELS

WORKFLOW = ".github/workflows/docker.yaml"
CHECK = "build levels"


def check(root: Path) -> list[Finding]:
    path = root / WORKFLOW
    if not path.is_file():
        return []
    try:
        jobs = (yaml.safe_load(path.read_text()) or {}).get("jobs") or {}
    except yaml.YAMLError as exc:
        return [Finding(WORKFLOW, 1, f"not valid YAML: {exc}", CHECK)]
    lines = path.read_text().splitlines()
    findings = []
    for number in range(1, CI_LEVELS + 1):
        job = jobs.get(f"build-{number}")
        wanted = f"needs.plan.outputs.level{number}"
        if job is None:
            findings.append(
                Finding(WORKFLOW, 1, f"no job build-{number}: level {number} is never built", CHECK)
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
    extra = f"build-{CI_LEVELS + 1}"
    if extra in jobs:
        findings.append(
            Finding(
                WORKFLOW,
                _line_of(lines, f"{extra}:"),
                f"{extra}: the plan outputs {CI_LEVELS} levels (raise CI_LEVELS in tasks/plan.py)",
                CHECK,
            )
        )
    return findings


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _line_of(lines: list[str], text: str) -> int:
    return next((n for n, line in enumerate(lines, 1) if line.strip() == text), 1)
