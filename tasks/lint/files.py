"""Which files of the repository each check looks at."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath

# Tool and cache folders, and the deliberately bad examples the lint tests feed the checks.
SKIPPED_FOLDERS = {".git", ".nox", ".venv", "venv", "node_modules", "__pycache__"}
SKIPPED_PATHS = {"tasks/tests/fixtures/lint"}
# The secret test's control case: a build arg carrying a credential, on purpose.
SKIPPED_FILES = {"tasks/tests/fixtures/secrets/Dockerfile.leaky"}
WORKFLOWS = ".github/workflows"
ACTIONS = ".github/actions"
_SHELLS = {"sh", "bash", "dash", "ksh"}
# The largest Dockerfile the checks read: real ones are a few kB, and the layer check's
# work grows faster than the file (each RUN is compared with what earlier ones filled).
MAX_DOCKERFILE = 256 * 1024
_SHEBANG = re.compile(r"#!\s*(\S+)(?:\s+(.*))?")


def walk(root: Path, under: Path | None = None) -> list[Path]:
    """Every file under root (or under one folder), minus tool folders and the bad
    examples (unless the walk starts inside them; a file given by name is linted
    whatever it is), in a stable order."""
    start = under or root
    skipped = {root / path for path in SKIPPED_PATHS}
    skipped = {path for path in skipped if path != start and path not in start.parents}
    skipped_files = {root / path for path in SKIPPED_FILES}
    found: list[Path] = []
    for folder, subfolders, files in os.walk(start):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if name not in SKIPPED_FOLDERS
            and not name.endswith("_cache")
            and here / name not in skipped
        )
        found += [here / name for name in sorted(files) if here / name not in skipped_files]
    return found


def in_repository(path: Path, root: Path) -> PurePath:
    """A file's path inside its repository, where GitHub would look for workflows: the
    nearest folder above it that is a git repository (a clone inside this one too), else
    this one (root); outside root, also a folder that holds .github (an exported tree)."""
    inside = path == root or root in path.parents
    for folder in path.parents:
        if inside and folder == root:
            break
        if (folder / ".git").exists() or (not inside and (folder / ".github").is_dir()):
            return path.relative_to(folder)
    return path.relative_to(root) if inside else PurePath(path.name)


def is_dockerfile(path: Path) -> bool:
    name = path.name
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")


class TooLarge(OSError):
    """A file larger than the checks read: the message says its size and the limit."""


def read_dockerfile(path: Path) -> str:
    """A Dockerfile's text for the checks, at most MAX_DOCKERFILE bytes of it: TooLarge
    (an OSError, as an unreadable file) for a larger one, UnicodeDecodeError for one
    that is not UTF-8."""
    with path.open("rb") as handle:
        data = handle.read(MAX_DOCKERFILE + 1)
    if len(data) > MAX_DOCKERFILE:
        raise TooLarge(too_large(path.stat().st_size))
    return data.decode("utf-8")


def oversized(path: Path) -> int | None:
    """The size of a Dockerfile too large for the checks (hadolint's too), else None."""
    try:
        size = path.stat().st_size
    except OSError:
        return None  # each check says it cannot read it
    return size if is_dockerfile(path) and size > MAX_DOCKERFILE else None


def too_large(size: int) -> str:
    return (
        f"too large to check: {size:,} bytes, more than the {MAX_DOCKERFILE // 1024} KiB a "
        "Dockerfile may have for the lint"
    )


def is_workflow(relative: PurePath) -> bool:
    """A GitHub workflow: YAML right in .github/workflows (GitHub reads no subfolder)."""
    return relative.parent.as_posix() == WORKFLOWS and relative.suffix in (".yaml", ".yml")


def is_action(relative: PurePath) -> bool:
    """A composite action of the repository: .github/actions/NAME/action.y(a)ml."""
    return relative.parent.parent.as_posix() == ACTIONS and relative.name in (
        "action.yaml",
        "action.yml",
    )


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
