"""The scan allowlist: every vulnerability the nightly Trivy scan accepts says why.

The file is Trivy's YAML ignore file. Trivy takes an entry with no reason, or with a
misspelt key, without a word; this check does not: each entry needs an `id` and a
`statement`, names each id once, and dates `expired_at` as YYYY-MM-DD.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tasks.lint.finding import Finding

ALLOWLIST = ".github/trivy-allowlist.yaml"
CHECK = "scan allowlist"
# What Trivy reads in an entry: a misspelt key (`expires_at`) would silently do nothing.
_KEYS = {"id", "statement", "expired_at", "paths", "purls"}
_STR = "tag:yaml.org,2002:str"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check(root: Path) -> list[Finding]:
    path = root / ALLOWLIST
    if not path.is_file():
        return []
    try:
        document = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as error:
        return [_finding(1, f"cannot read it: {error}")]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return [_finding(line, f"not valid YAML: {getattr(error, 'problem', None) or error}")]
    if not isinstance(document, MappingNode):
        line = _line(document) if document else 1
        return [_finding(line, "expected a mapping with a `vulnerabilities:` list")]
    entries = _value(document, "vulnerabilities")
    if entries is None:
        return [_finding(_line(document), "no `vulnerabilities:` list")]
    if not isinstance(entries, SequenceNode):
        return [_finding(_line(entries), "`vulnerabilities` must be a list")]
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for entry in entries.value:
        findings += _check_entry(entry, seen)
    return findings


def _check_entry(entry: Node, seen: dict[str, int]) -> list[Finding]:
    """seen: id -> line of its first entry, updated here."""
    line = _line(entry)
    if not isinstance(entry, MappingNode):
        return [_finding(line, "each entry must be a mapping with `id` and `statement`")]
    findings = [
        _finding(_line(key), f"unknown key {key.value!r}: Trivy reads {', '.join(sorted(_KEYS))}")
        for key, _ in entry.value
        if key.value not in _KEYS
    ]
    ident = _text(_value(entry, "id"))
    if ident is None:
        findings.append(_finding(line, "entry without an `id` (the vulnerability, e.g. a CVE)"))
    elif ident in seen:
        message = f"{ident} is listed already at line {seen[ident]}: one entry per id"
        findings.append(_finding(line, message))
    else:
        seen[ident] = line
    if _text(_value(entry, "statement")) is None:
        name = ident or "entry"
        findings.append(_finding(line, f"{name} has no `statement`: say why it is acceptable"))
    expired_at = _value(entry, "expired_at")
    if expired_at is not None and not _is_date(expired_at):
        message = "`expired_at` must be a date, YYYY-MM-DD, unquoted"
        findings.append(_finding(_line(expired_at), message))
    return findings


def _value(mapping: MappingNode, key: str) -> Node | None:
    return next((value for k, value in mapping.value if k.value == key), None)


def _text(node: Node | None) -> str | None:
    """A non-empty string scalar's text, else None (absent, empty, a number, a list...)."""
    if isinstance(node, ScalarNode) and node.tag == _STR and node.value.strip():
        return node.value.strip()
    return None


def _is_date(node: Node) -> bool:
    # Unquoted, a YAML timestamp: Trivy's parser makes it a date. Quoted, a string it refuses.
    if not isinstance(node, ScalarNode) or node.tag == _STR or not _DATE.fullmatch(node.value):
        return False
    try:
        datetime.date.fromisoformat(node.value)
    except ValueError:
        return False
    return True


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _finding(line: int, message: str) -> Finding:
    return Finding(ALLOWLIST, line, message, CHECK)
