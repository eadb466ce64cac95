"""ARGs that hold a pin (a version, a download URL, a checksum) but carry no `# pin:` line.

Such a value is pinned in fact, yet docs/pins.md does not list it and `nox -s pins` never
checks it. The lint shows each with the line to add above it; docs/pins.md counts them.
"""

from __future__ import annotations

import dataclasses
import re

from tasks.stack.dockerfile import parse

_PIN_LINE = re.compile(r"^\s*#\s*pin\s*:", re.IGNORECASE)
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)")
_VERSION = re.compile(r"v?\d+(?:\.\d+)+(?:[-.+~_][0-9A-Za-z.]+)*")
_CHECKSUM = re.compile(r"(?:sha\d+:)?[0-9A-Fa-f]{32,128}")
_VERSION_NAME = re.compile(r"(?:^|_)(?:VERSION|VER)$", re.IGNORECASE)
_CHECKSUM_NAME = re.compile(r"SHA\d*|CHECKSUM|HASH|DIGEST", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Unpinned:
    arg: str
    value: str
    line: int  # of the ARG
    what: str  # "a version", "a URL", "a checksum"
    kind: str  # the pin kind to suggest

    @property
    def suggestion(self) -> str:
        name = re.sub(r"_?(VERSION|VER|URL|SHA\d*|CHECKSUM)$", "", self.arg).lower() or "NAME"
        return f"# pin: {self.kind} {name.replace('_', '-')}; evidence: TEXT"


def find(text: str) -> list[Unpinned]:
    """The pin-like ARGs of a Dockerfile's text that have no `# pin:` line right above."""
    lines = text.splitlines()
    found = []
    for item in parse(text):
        if item.keyword != "ARG":
            continue
        above = lines[item.line - 2] if item.line >= 2 else ""
        if _PIN_LINE.match(above):
            continue
        for arg, raw in _PAIR.findall(item.arguments):
            value = raw.strip("\"'")
            looks = _looks_like(arg, value)
            if looks:
                found.append(Unpinned(arg, value, item.line, *looks))
    return found


def _looks_like(arg: str, value: str) -> tuple[str, str] | None:
    """(what the value looks like, the pin kind to suggest), or None for no pin."""
    if not value or value.startswith("$"):
        return None  # no default, or another ARG's value
    if "://" in value:
        return "a URL", "url"
    if _CHECKSUM.fullmatch(value) or (_CHECKSUM_NAME.search(arg) and len(value) >= 32):
        return "a checksum", "sha256"
    if _VERSION.fullmatch(value) or (_VERSION_NAME.search(arg) and value[0].isdigit()):
        return "a version", "pypi"
    return None
