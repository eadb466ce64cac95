"""Read a Dockerfile into instructions, as BuildKit's parser sees them (plan and lint).

Enough of the syntax for our layer checks: parser directives (`# escape=`), comments
(also between continuation lines), line continuations, heredocs (`RUN <<EOF`), flags
such as `--mount=...` and `--chown=...`, and the JSON (exec) form.
"""

from __future__ import annotations

import dataclasses
import json
import re

_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}
_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?")


@dataclasses.dataclass(frozen=True)
class Instruction:
    line: int  # first physical line, 1-based
    keyword: str  # upper case: RUN, COPY, FROM, ...
    flags: tuple[tuple[str, str], ...]  # (name, value) of leading --flags, in order
    arguments: str  # the rest of the logical line, continuations joined
    heredocs: tuple[str, ...] = ()  # bodies of `<<EOF` documents, in order

    def flag_values(self, name: str) -> list[str]:
        return [value for flag, value in self.flags if flag == name]

    @property
    def script(self) -> str:
        """What a RUN executes: its command line and the bodies of its heredocs."""
        text = self.arguments
        if text.startswith("["):
            try:
                parts = json.loads(text)
            except json.JSONDecodeError:
                parts = None
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                text = " ".join(parts)
        return "\n".join([text, *self.heredocs])


def parse(text: str) -> list[Instruction]:
    lines = text.splitlines()
    escape = _escape_character(lines)
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index
        parts: list[str] = []
        while True:
            current = lines[index].rstrip()
            index += 1
            if current.endswith(escape) and not current.endswith(escape * 2):
                parts.append(current[: -len(escape)])
                # Comment and empty lines inside a continued instruction are dropped.
                while index < len(lines) and (
                    not lines[index].strip() or lines[index].lstrip().startswith("#")
                ):
                    index += 1
                if index < len(lines):
                    continue
            else:
                parts.append(current)
            break
        logical = " ".join(part.strip() for part in parts).strip()
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        flags, arguments = _split_flags(rest.strip())
        heredocs: list[str] = []
        if keyword in _HEREDOC_KEYWORDS:
            for match in _HEREDOC.finditer(arguments):
                body, index = _read_heredoc(lines, index, match.group(3), bool(match.group(1)))
                heredocs.append(body)
        instructions.append(Instruction(start + 1, keyword, flags, arguments, tuple(heredocs)))
    return instructions


def _escape_character(lines: list[str]) -> str:
    """The `# escape=` parser directive, which must come before anything else."""
    for line in lines:
        match = _DIRECTIVE.match(line.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            return match.group(2)
    return "\\"


def _split_flags(rest: str) -> tuple[tuple[tuple[str, str], ...], str]:
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        word, _, remainder = rest.partition(" ")
        match = _FLAG.fullmatch(word)
        if not match:
            break
        # BuildKit takes a flag's value without its quotes (--chown="a:b" is a:b).
        flags.append((match.group(1), _unquoted(match.group(2) or "")))
        rest = remainder.lstrip()
    return tuple(flags), rest


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _read_heredoc(lines: list[str], index: int, end: str, strip_tabs: bool) -> tuple[str, int]:
    body: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        candidate = line.lstrip("\t") if strip_tabs else line
        if candidate.rstrip() == end:
            break
        body.append(candidate)
    return "\n".join(body), index
