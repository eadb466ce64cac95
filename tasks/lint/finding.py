"""One problem a check found, printed as `file:line: message` like compilers do."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Finding:
    path: str  # relative to the repository root, posix style
    line: int
    message: str
    check: str  # which check found it, for the summary
    rule: str = ""  # hadolint's code for it (ours: the hadolint rule it repeats, if any)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
