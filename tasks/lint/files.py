"""Which files of the repository each check looks at."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath

# Tool and cache folders, and the deliberately bad examples the lint tests feed the checks.
SKIPPED_FOLDERS = {".git", ".nox", ".venv", "venv", "node_modules", "__pycache__"}
SKIPPED_PATHS = {"tasks/tests/fixtures/lint"}
WORKFLOWS = ".github/workflows"
_SHELLS = {"sh", "bash", "dash", "ksh"}
_SHEBANG = re.compile(r"#!\s*(\S+)(?:\s+(.*))?")


def walk(root: Path) -> list[Path]:
    """Every file under root, minus tool folders and bad examples, in a stable order."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if name not in SKIPPED_FOLDERS
            and not name.endswith("_cache")
            and (here / name).relative_to(root).as_posix() not in SKIPPED_PATHS
        )
        found += [here / name for name in sorted(files)]
    return found


def is_dockerfile(path: Path) -> bool:
    name = path.name
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")


def is_workflow(relative: PurePath) -> bool:
    """A GitHub workflow: YAML right in .github/workflows (GitHub reads no subfolder)."""
    return relative.parent.as_posix() == WORKFLOWS and relative.suffix in (".yaml", ".yml")


def shell_of(path: Path) -> str | None:
    """The shell a script runs in, '' to let shellcheck read its shebang, None if no script.

    *.sh files are scripts whatever their first line; extension-less files are when
    their shebang names a shell, directly, through env, or through s6-overlay's
    with-contenv (which shellcheck does not know, so we name the shell for it).
    """
    if path.suffix in (".sh", ".bash"):
        first = _first_line(path)
        return _shebang_shell(first) if first.startswith("#!") else ""
    if path.suffix:
        return None
    first = _first_line(path)
    return _shebang_shell(first) if first.startswith("#!") else None


def _shebang_shell(line: str) -> str | None:
    match = _SHEBANG.match(line.strip())
    if not match:
        return None
    program = match.group(1).rsplit("/", 1)[-1]
    rest = (match.group(2) or "").split()
    if program in _SHELLS:
        return ""
    if program in ("env", "with-contenv") and rest:
        shell = rest[-1].rsplit("/", 1)[-1] if program == "with-contenv" else rest[0]
        if shell in _SHELLS:
            return shell if program == "with-contenv" else ""
    return None


def _first_line(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return handle.readline(200).decode("utf-8", "replace")
    except OSError:
        return ""
