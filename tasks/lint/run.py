"""The lint: prek runs every check as a hook of tasks/lint/hooks.yaml, then one verdict.

Checks never stop each other: a developer sees everything wrong in one run. PATHs narrow
the files (so the lint can be pointed at another repository's images); --only the checks.
Our own checks run as hooks too (tasks/lint/hook.py calls `check` here).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tasks import bakefile, docs, image_config, readme
from tasks.console import FAILURE, ZoneError, err, note, shown
from tasks.lint import (
    CHECKS,
    FILE_CHECKS,
    HOOKS,
    files,
    hadolint_config,
    hooks_file,
    layers,
    secrets,
    stacked,
    tests_folders,
    tools,
    unpinned,
)
from tasks.lint import pins as pin_checks
from tasks.lint.finding import Finding
from tasks.lint.stages import StageImages
from tasks.settings import Settings

CONFIG = ".pre-commit-config.yaml"  # a repository's own hooks, when it has them
HOOKS_FILE = Path(__file__).with_name("hooks.yaml")  # the runner's hooks, shipped with it
RUNNER = Path(__file__).resolve().parents[2]  # the folder the tasks package is in
# Set by `python -m tasks lint PATH...` for the hooks it starts: these files only, none of
# the repository-wide parts of a check (the stages' pins as a whole, .hadolint.yaml).
FILES_ONLY = "ZONE_LINT_FILES_ONLY"


@dataclasses.dataclass(frozen=True)
class Files:
    """What the checks look at, as paths relative to the repository root (`../x` outside)."""

    dockerfiles: list[str]
    scripts: dict[str, str]  # path -> the shell to name to shellcheck ('' for its shebang)
    workflows: list[str]  # GitHub workflows (actionlint, secrets)
    actions: list[str]  # composite actions (secrets)

    @classmethod
    def find(cls, root: Path, every: list[Path]) -> Files:
        in_repo = {path: files.in_repository(path, root) for path in every}
        return cls(
            dockerfiles=[_shown(p, root) for p in every if files.is_dockerfile(p)],
            scripts={_shown(p, root): s for p in every if (s := files.shell_of(p)) is not None},
            workflows=[_shown(p, root) for p in every if files.is_workflow(in_repo[p])],
            actions=[_shown(p, root) for p in every if files.is_action(in_repo[p])],
        )

    @classmethod
    def given(cls, root: Path, paths: list[str]) -> Files:
        """The files a hook was given (relative to root, or absolute), in path order
        (prek hands them over in an order of its own)."""
        return cls.find(root, sorted(Path(os.path.abspath(root / path)) for path in paths))


def run(settings: Settings, paths: list[str] | None = None, only: list[str] | None = None) -> int:
    """paths: lint only these files or folders; only: run only these checks.

    prek runs the hooks, each tool's findings shown as it writes them; this picks the
    files (every file of the repository without PATHs, untracked ones too) and the hooks.
    """
    root = settings.root
    paths, only = paths or [], only or []
    unknown = [name for name in only if name not in CHECKS]
    if unknown:
        raise ZoneError(
            f"unknown check {', '.join(map(repr, unknown))}",
            hint=f"known checks: {', '.join(CHECKS)}",
        )
    if paths:
        every = [file for start in _starts(root, paths) for file in _files_of(root, start)]
        every = list(dict.fromkeys(every))
    else:
        every = files.walk(root)
    # The runner's own hooks, unless the repository declares its own.
    config = root / CONFIG if (root / CONFIG).is_file() else HOOKS_FILE
    if not (root / ".git").exists():
        raise ZoneError(f"lint: {root} is not a git repository", hint="prek runs in a git checkout")
    # Dockerfiles too large to check (hadolint too would never finish) go to no check.
    sizes = {path: size for path in every if (size := files.oversized(path)) is not None}
    every = [path for path in every if path not in sizes]
    for path, size in sizes.items():
        err.print(shown(f"{_shown(path, root)}:1: {files.too_large(size)}"))
    names = [name for name in CHECKS if name in only] if only else []
    names = names or list(FILE_CHECKS if paths else CHECKS)
    if "mypy" in names and not _mypy_configured(root):
        names.remove("mypy")
        note("mypy: not run, the repository does not configure it ([tool.mypy], mypy.ini)")
    found = Files.find(root, every)
    where = f" under {', '.join(paths)}" if paths else ""
    note(
        f"checking {len(found.dockerfiles)} Dockerfiles, {len(found.scripts)} shell scripts and "
        f"{len(found.workflows)} workflows{where}; checks: {', '.join(names)}"
    )
    with tempfile.NamedTemporaryFile("w", prefix="zone-lint-", suffix=".files") as listed:
        listed.write("\0".join(_shown(path, root) for path in every))
        listed.flush()
        argv = [tools.find("prek"), "run", "--config", str(config), "--files0-from", listed.name]
        argv += [HOOKS[name] for name in names]
        # prek's report is for people: on stderr, as all of ours (stdout stays for --json).
        env = _hook_env(bool(paths))
        result = subprocess.run(argv, cwd=root, env=env, stdout=sys.stderr, check=False)
    if sizes:
        raise ZoneError(
            f"lint could not check {len(sizes)} Dockerfile(s): too large (see above)"
            + ("; the others' checks found problems too" if result.returncode else ""),
            hint=f"the lint checks Dockerfiles of up to {files.MAX_DOCKERFILE // 1024} KiB (real "
            "ones are a few kB): check that PATH names the file you meant",
            exit_code=FAILURE,
        )
    if result.returncode != 0:
        raise ZoneError(
            "lint found problems: see the checks marked Failed above",
            hint="each finding says file:line, as its tool writes it",
            exit_code=FAILURE,
        )
    note("lint: everything passes")
    return 0


def _mypy_configured(root: Path) -> bool:
    """mypy checks what a repository's own config names; without one it has no target."""
    if (root / "mypy.ini").is_file() or (root / ".mypy.ini").is_file():
        return True
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and "[tool.mypy]" in pyproject.read_text(errors="replace")


def _hook_env(files_only: bool) -> dict[str, str]:
    """The venv's programs first on PATH: the hooks (language: system) run what it finds."""
    env = {**os.environ, "PATH": os.pathsep.join([tools.venv_bin(), os.environ.get("PATH", "")])}
    # Our hooks are `python -m tasks.lint.hook`, wherever the linted repository is.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RUNNER), env.get("PYTHONPATH")]))
    env.pop(FILES_ONLY, None)
    return {**env, FILES_ONLY: "1"} if files_only else env


def check(name: str, settings: Settings, paths: list[str]) -> list[Finding]:
    """One of our own checks on the files its hook was given."""
    root = settings.root
    found = Files.given(root, paths)
    repository = not os.environ.get(FILES_ONLY)
    ours: dict[str, Callable[[], list[Finding]]] = {
        "hadolint ignores": lambda: _hadolint_ignores(root, found.dockerfiles, repository),
        "layers": lambda: _layers(root, found.dockerfiles, StageImages(settings.bake_file, root)),
        "pins": lambda: pin_checks.check(settings, found.dockerfiles, repository=repository),
        "secrets": lambda: _secrets(root, found),
        "scan allowlist": lambda: _scan_allowlist(root),
        "build levels": lambda: _build_levels(settings),
        "unpinned args": lambda: unpinned.check(root, found.dockerfiles),
        "tests folders": lambda: tests_folders.check(settings),
        "bake --print": lambda: _bake_prints(settings),
        "docs": lambda: _docs(settings),
    }
    if name not in ours:
        raise ZoneError(f"no check of ours named {name!r}", hint=f"ours: {', '.join(ours)}")
    try:
        return ours[name]()
    except ZoneError as error:  # e.g. a bad bake file
        return [Finding(".", 1, f"{error.message} {error.hint}".strip(), name)]


def shellcheck(settings: Settings, paths: list[str]) -> int:
    """shellcheck on the shell scripts among these files, each with its shell named."""
    return tools.shellcheck(settings.root, Files.given(settings.root, paths).scripts)


def hadolint(settings: Settings, paths: list[str]) -> int:
    """hadolint on the Dockerfiles among these files, each with the rules its parent stages
    make wrong switched off (tasks.lint.stacked), the reasons said first."""
    root = settings.root
    read = functools.partial(image_config.read, settings=settings)
    stage_images = StageImages(settings.bake_file, root, read)
    groups: dict[tuple[str, ...], list[str]] = {}
    offs = {}
    for path in Files.given(root, paths).dockerfiles:
        offs[path] = stacked.rules_off(root / path, stage_images)
        groups.setdefault(tuple(rule.rule for rule in offs[path]), []).append(path)
    for said in stage_images.upstreams:  # once each, before the rules they switch off
        note(said)
    for path, off in offs.items():
        for rule in off:
            note(f"{path}: hadolint {rule.rule} is off here: {rule.reason}")
        for line in stacked.root_users_kept(root / path, stage_images):
            note(
                f"{path}:{line}: hadolint DL3066 is wrong on `USER root` (uid 0 in every image) "
                "but stays on for this file's named USERs; above this line add "
                "`# hadolint ignore=DL3066` and a comment saying why"
            )
    return tools.hadolint(root, groups)


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


def _hadolint_ignores(root: Path, dockerfiles: list[str], config: bool) -> list[Finding]:
    """config: also check the repository's .hadolint.yaml (not when PATHs are given)."""
    inline = [f for path in dockerfiles for f in hadolint_config.check_pragmas(root / path, path)]
    return (hadolint_config.check(root) if config else []) + inline


def _layers(root: Path, dockerfiles: list[str], stage_images: StageImages) -> list[Finding]:
    findings = []
    for path in dockerfiles:
        parent, refs = stage_images.parent_of(root / path)
        findings += layers.check_file(root / path, path, parent, refs)
    for problem in stage_images.problems:
        note(problem)
    return findings


def _secrets(root: Path, found: Files) -> list[Finding]:
    in_dockerfiles = [f for p in found.dockerfiles for f in secrets.check_dockerfile(root / p, p)]
    yaml = found.workflows + found.actions
    return in_dockerfiles + [f for p in yaml for f in secrets.check_workflow(root / p, p)]


def _scan_allowlist(root: Path) -> list[Finding]:
    # Imported here: it needs pyyaml, a lint dependency, and every command imports this module.
    from tasks.lint import allowlist

    return allowlist.check(root)


def _build_levels(settings: Settings) -> list[Finding]:
    from tasks.lint import build_levels  # pyyaml, as above

    graph = bakefile.load(settings.bake_path, environ={})
    return build_levels.check(settings.root, graph, settings.ci_levels)


def _bake_prints(settings: Settings) -> list[Finding]:
    if not tools.buildx_available():
        note("docker buildx is not installed here: skipping the bake --print check")
        return []
    graph = bakefile.load(settings.bake_path)
    return tools.bake_prints(settings.root, settings.bake_file, list(graph.stages))


def _docs(settings: Settings) -> list[Finding]:
    problem = docs.stale(settings.root, settings.bake_path, settings.version_tag)
    found = [Finding(docs.STAGES_DOC, 1, problem, "docs")] if problem else []
    if table := readme.stale(settings.root):
        found.append(Finding(readme.README, 1, table, "docs"))
    if hooks_file.in_checkout(settings.root) and (hooks := hooks_file.stale()):
        found.append(Finding("tasks/lint/hooks.yaml", 1, hooks, "docs"))
    return found


def _shown(path: Path, root: Path) -> str:
    """Relative to the repository root; absolute for a file of another repository."""
    return path.relative_to(root).as_posix() if root in path.parents else path.as_posix()
