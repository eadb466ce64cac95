"""Run every lint check, print each finding as `file:line: message`, then one verdict.

Checks never stop each other: a developer sees everything wrong in one run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from tasks import bakefile, docs
from tasks.console import FAILURE, ZoneError, err, note
from tasks.lint import files, hadolint_config, layers, tools
from tasks.lint.finding import Finding
from tasks.settings import Settings


def run(settings: Settings) -> int:
    root = settings.root
    every = files.walk(root)
    dockerfiles = [_relative(p, root) for p in every if files.is_dockerfile(p)]
    scripts = {_relative(p, root): shell for p in every if (shell := files.shell_of(p)) is not None}
    workflows = [_relative(p, root) for p in every if files.is_workflow(p.relative_to(root))]
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("ruff format", lambda: tools.ruff_format(root)),
        ("ruff check", lambda: tools.ruff_check(root)),
        ("hadolint", lambda: tools.hadolint(root, dockerfiles)),
        ("hadolint ignores", lambda: _hadolint_ignores(root, dockerfiles)),
        ("layers", lambda: _layers(root, dockerfiles)),
        ("shellcheck", lambda: tools.shellcheck(root, scripts)),
        ("actionlint", lambda: tools.actionlint(root, workflows)),
        ("scan allowlist", lambda: _scan_allowlist(root)),
        ("build levels", lambda: _build_levels(root)),
        ("bake --print", lambda: _bake_prints(settings)),
        ("docs", lambda: _docs(settings)),
    ]
    failed: list[str] = []
    total = 0
    for name, check in checks:
        try:
            findings = check()
        except ZoneError as error:  # e.g. a tool missing or a bad bake file: still run the rest
            findings = [Finding(".", 1, f"{error.message} {error.hint}".strip(), name)]
        for finding in findings:
            err.print(Text(str(finding)))
        if findings:
            failed.append(name)
            total += len(findings)
    note(
        f"checked {len(dockerfiles)} Dockerfiles, {len(scripts)} shell scripts and "
        f"{len(workflows)} workflows; "
        f"checks: {', '.join(name for name, _ in checks)}"
    )
    if failed:
        raise ZoneError(f"lint found {total} problem(s) in: {', '.join(failed)}", exit_code=FAILURE)
    note("lint: everything passes")
    return 0


def _hadolint_ignores(root: Path, dockerfiles: list[str]) -> list[Finding]:
    inline = [f for path in dockerfiles for f in hadolint_config.check_pragmas(root / path, path)]
    return hadolint_config.check(root) + inline


def _layers(root: Path, dockerfiles: list[str]) -> list[Finding]:
    return [f for path in dockerfiles for f in layers.check_file(root / path, path)]


def _scan_allowlist(root: Path) -> list[Finding]:
    # Imported here: it needs pyyaml, a lint dependency, and every command imports this module.
    from tasks.lint import allowlist

    return allowlist.check(root)


def _build_levels(root: Path) -> list[Finding]:
    from tasks.lint import build_levels  # pyyaml, as above

    return build_levels.check(root)


def _bake_prints(settings: Settings) -> list[Finding]:
    if not tools.buildx_available():
        note("docker buildx is not installed here: skipping the bake --print check")
        return []
    graph = bakefile.load(settings.bake_path)
    return tools.bake_prints(settings.root, settings.bake_file, list(graph.stages))


def _docs(settings: Settings) -> list[Finding]:
    problem = docs.stale(settings.root, settings.bake_path)
    return [Finding(docs.STAGES_DOC, 1, problem, "docs")] if problem else []


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
