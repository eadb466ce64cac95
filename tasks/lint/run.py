"""Run the lint checks, print each finding as `file:line: message`, then one verdict.

Checks never stop each other: a developer sees everything wrong in one run. PATHs narrow
the files (so the lint can be pointed at another repository's images); --only the checks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from tasks import bakefile, docs
from tasks.console import FAILURE, ZoneError, err, note
from tasks.lint import CHECKS, FILE_CHECKS, files, hadolint_config, layers, secrets, tools
from tasks.lint import pins as pin_checks
from tasks.lint.finding import Finding
from tasks.lint.stages import StageImages
from tasks.settings import Settings


@dataclasses.dataclass(frozen=True)
class Files:
    """What the checks look at, as paths relative to the repository root (`../x` outside)."""

    dockerfiles: list[str]
    scripts: dict[str, str]  # path -> the shell to name to shellcheck ('' for its shebang)
    workflows: list[str]  # GitHub workflows (actionlint, secrets)
    actions: list[str]  # composite actions (secrets)
    python: list[str]

    @classmethod
    def find(cls, root: Path, paths: list[str]) -> Files:
        if paths:
            every = [file for start in _starts(root, paths) for file in _files_of(root, start)]
            every = list(dict.fromkeys(every))
        else:
            every = files.walk(root)
        in_repo = {path: files.in_repository(path, root) for path in every}
        return cls(
            dockerfiles=[_shown(p, root) for p in every if files.is_dockerfile(p)],
            scripts={_shown(p, root): s for p in every if (s := files.shell_of(p)) is not None},
            workflows=[_shown(p, root) for p in every if files.is_workflow(in_repo[p])],
            actions=[_shown(p, root) for p in every if files.is_action(in_repo[p])],
            python=[_shown(p, root) for p in every if p.suffix in (".py", ".pyi")],
        )


def run(settings: Settings, paths: list[str] | None = None, only: list[str] | None = None) -> int:
    """paths: lint only these files or folders; only: run only these checks."""
    root = settings.root
    paths, only = paths or [], only or []
    unknown = [name for name in only if name not in CHECKS]
    if unknown:
        raise ZoneError(
            f"unknown check {', '.join(map(repr, unknown))}",
            hint=f"known checks: {', '.join(CHECKS)}",
        )
    found = Files.find(root, paths)
    if only:
        names = [name for name in CHECKS if name in only]
    else:
        names = list(FILE_CHECKS if paths else CHECKS)
    stage_images = StageImages(settings.bake_file, root)
    checks: dict[str, Callable[[], list[Finding]]] = {
        "ruff format": lambda: _ruff(tools.ruff_format, root, paths, found),
        "ruff check": lambda: _ruff(tools.ruff_check, root, paths, found),
        "hadolint": lambda: tools.hadolint(root, found.dockerfiles),
        "hadolint ignores": lambda: _hadolint_ignores(root, found.dockerfiles, not paths),
        "layers": lambda: _layers(root, found.dockerfiles, stage_images),
        "pins": lambda: pin_checks.check(settings, found.dockerfiles, repository=not paths),
        "secrets": lambda: _secrets(root, found),
        "shellcheck": lambda: tools.shellcheck(root, found.scripts),
        "actionlint": lambda: tools.actionlint(root, found.workflows),
        "scan allowlist": lambda: _scan_allowlist(root),
        "build levels": lambda: _build_levels(root),
        "bake --print": lambda: _bake_prints(settings),
        "docs": lambda: _docs(settings),
    }
    results: dict[str, list[Finding]] = {}
    for name in names:
        try:
            results[name] = checks[name]()
        except ZoneError as error:  # e.g. a tool missing or a bad bake file: still run the rest
            results[name] = [Finding(".", 1, f"{error.message} {error.hint}".strip(), name)]
    _drop_repeats(results)
    for problem in stage_images.problems:
        note(problem)
    failed = [name for name in names if results[name]]
    for name in names:
        for finding in results[name]:
            err.print(Text(str(finding)))
    total = sum(len(results[name]) for name in names)
    where = f" under {', '.join(paths)}" if paths else ""
    note(
        f"checked {len(found.dockerfiles)} Dockerfiles, {len(found.scripts)} shell scripts and "
        f"{len(found.workflows)} workflows{where}; checks: {', '.join(names)}"
    )
    if failed:
        raise ZoneError(f"lint found {total} problem(s) in: {', '.join(failed)}", exit_code=FAILURE)
    note("lint: everything passes")
    return 0


def _drop_repeats(results: dict[str, list[Finding]]) -> None:
    """Our layer check's pip-cache finding is hadolint's DL3042 where hadolint says it too
    (hadolint misses some: a pip called by its full path, a rule ignored, a heredoc it
    cannot parse); then it is reported once, by hadolint."""
    said = {(f.path, f.line, f.rule) for f in results.get("hadolint", []) if f.rule}
    if "layers" in results:
        results["layers"] = [
            f for f in results["layers"] if not f.rule or (f.path, f.line, f.rule) not in said
        ]


def _starts(root: Path, paths: list[str]) -> list[Path]:
    starts = []
    for path in paths:
        start = Path(os.path.abspath(root / path))
        if not start.exists():
            raise ZoneError(
                f"lint: no such file or folder: {path}",
                hint="give files or folders to lint (Dockerfiles, scripts, workflows, Python), "
                "relative to the repository root or absolute",
            )
        starts.append(start)
    return starts


def _files_of(root: Path, start: Path) -> list[Path]:
    return files.walk(root, start) if start.is_dir() else [start]


def _ruff(tool: Callable[..., list[Finding]], root: Path, paths: list[str], found: Files):
    if paths and not found.python:
        return []
    return tool(root, found.python if paths else None)


def _hadolint_ignores(root: Path, dockerfiles: list[str], config: bool) -> list[Finding]:
    """config: also check the repository's .hadolint.yaml (not when PATHs are given)."""
    inline = [f for path in dockerfiles for f in hadolint_config.check_pragmas(root / path, path)]
    return (hadolint_config.check(root) if config else []) + inline


def _layers(root: Path, dockerfiles: list[str], stage_images: StageImages) -> list[Finding]:
    findings = []
    for path in dockerfiles:
        parent, refs = stage_images.parent_of(root / path)
        findings += layers.check_file(root / path, path, parent, refs)
    return findings


def _secrets(root: Path, found: Files) -> list[Finding]:
    in_dockerfiles = [f for p in found.dockerfiles for f in secrets.check_dockerfile(root / p, p)]
    yaml = found.workflows + found.actions
    return in_dockerfiles + [f for p in yaml for f in secrets.check_workflow(root / p, p)]


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


def _shown(path: Path, root: Path) -> str:
    """Relative to the repository root; absolute for a file of another repository."""
    return path.relative_to(root).as_posix() if root in path.parents else path.as_posix()
