"""A version, URL or checksum ARG without a `# pin:` line: one finding showing the line to add."""

from __future__ import annotations

from pathlib import Path

from tasks.lint.finding import Finding
from tasks.pinning import pin_like
from tasks.pinning.pins import KINDS

CHECK = "unpinned args"


def check(root: Path, dockerfiles: list[str]) -> list[Finding]:
    findings = []
    for path in dockerfiles:
        try:
            text = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the other checks say it cannot be read
        findings += [
            Finding(
                path,
                found.line,
                f"ARG {found.arg}={found.value} looks like a pin ({found.what}) but has no "
                f"`# pin:` line, so docs/pins.md omits it and `nox -s pins` never checks it; "
                f"add above it: {found.suggestion} (KIND one of {', '.join(KINDS)})",
                CHECK,
            )
            for found in pin_like.find(text)
        ]
    return findings
