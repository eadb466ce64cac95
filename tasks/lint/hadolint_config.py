"""hadolint rules may be ignored (in .hadolint.yaml or inline) only with a comment saying why."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.lint.files import read_dockerfile
from tasks.lint.finding import Finding

CONFIG = ".hadolint.yaml"
_KEY = re.compile(r"^(\w[\w-]*)\s*:\s*(.*)$")
_ITEM = re.compile(r"^\s*-\s*([^#\s]+)\s*(#\s*\S.*)?$")
_INLINE = re.compile(r"\[(.*)\]")


def check(root: Path) -> list[Finding]:
    path = root / CONFIG
    if not path.is_file():
        return []
    findings: list[Finding] = []
    in_ignored = False
    previous = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        key = _KEY.match(line)
        if key:
            in_ignored = key.group(1) == "ignored"
            value = key.group(2).split("#", 1)[0].strip()
            inline = _INLINE.fullmatch(value)
            if in_ignored and inline and inline.group(1).strip():
                message = "list ignored rules one a line, each with a comment saying why"
                findings.append(Finding(CONFIG, number, message, "hadolint ignores"))
        elif in_ignored:
            item = _ITEM.match(line)
            if item and not item.group(2) and not previous.lstrip().startswith("#"):
                message = f"ignores {item.group(1)} without a comment saying why"
                findings.append(Finding(CONFIG, number, message, "hadolint ignores"))
        previous = line
    return findings


_PRAGMA = re.compile(r"^\s*#\s*hadolint\s+ignore\s*=\s*([A-Z0-9, ]+?)\s*(?:#\s*(\S.*))?$")


def check_pragmas(path: Path, shown_as: str) -> list[Finding]:
    """A `# hadolint ignore=...` line in a Dockerfile needs the same: a comment saying why,
    on the line just above it or after the rule list."""
    try:
        lines = read_dockerfile(path).splitlines()
    except (OSError, UnicodeDecodeError):
        return []  # the layer check reports unreadable files
    findings = []
    for number, line in enumerate(lines, 1):
        pragma = _PRAGMA.match(line)
        if not pragma or pragma.group(2):
            continue
        above = lines[number - 2].strip() if number > 1 else ""
        if not above.startswith("#") or _PRAGMA.match(above):
            message = f"ignores {pragma.group(1).strip()} without a comment saying why"
            findings.append(Finding(shown_as, number, message, "hadolint ignores"))
    return findings
