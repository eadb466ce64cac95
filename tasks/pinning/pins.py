"""Every external pin of the stack, read from the Dockerfiles and the bake file.

A pin is one comment line directly above the ARG (or bake variable) that holds it:

    # pin: KIND NAME; evidence: TEXT
    ARG VAR=VALUE

KIND says what VALUE is (see KINDS), NAME what it names, and TEXT the public evidence
that it exists, or `unverified: WHY`. `nox -s docs` lists the pins in docs/pins.md,
`nox -s pins` asks each one's service whether it resolves, and lint checks that RUN
steps take their versions from pins.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from tasks.console import ZoneError
from tasks.stack import bakefile

# kind -> what NAME and VALUE are (used in messages and docs)
KINDS = {
    "pypi": "a PyPI project and its exact version",
    "conda": "a conda-forge package and its version (or a glob such as 4.2.*)",
    "url": "a label and a download URL",
    "sha256": "the ARG of the url pin it checks, and the file's sha256",
    "fingerprint": "the ARG of the url pin of a signing key it checks, and the key's "
    "OpenPGP fingerprint (a key file may be re-issued; the key stays)",
    "image": "an image repository and its tag or digest",
    "apt-source": "a label and an apt repository URL",
    "openvsx": "an Open VSX extension (publisher.name) and its version",
}
UNVERIFIED = "unverified:"
CHECKS = ("sha256", "fingerprint")  # the kinds of pin that verify a url pin's download

_PIN_COMMENT = re.compile(r"^\s*(?:#|//)\s*pin\s*:(.*)$")
_PIN_BODY = re.compile(
    r"\s*(?P<kind>\S+)\s+(?P<name>[^\s;]+)\s*;\s*evidence\s*:\s*(?P<text>.*?)\s*"
)
_ARG_LINE = re.compile(r"^\s*ARG\s+(?P<rest>.*)$", re.IGNORECASE)
_VARIABLE_LINE = re.compile(r'^\s*variable\s+"(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"\s*\{')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_VALUES = {
    "pypi": (re.compile(r"\d[A-Za-z0-9.+!_-]*"), "an exact version such as 2.4.13"),
    "conda": (re.compile(r"[A-Za-z0-9.+!_*-]+"), "a version or a glob such as 4.2.*"),
    "sha256": (re.compile(r"[0-9a-f]{64}"), "64 lowercase hex digits"),
    "fingerprint": (re.compile(r"[0-9A-F]{40}"), "40 uppercase hex digits"),
    "url": (re.compile(r"https?://\S+"), "an http(s) URL"),
    "apt-source": (re.compile(r"https?://\S+"), "an http(s) URL"),
    "image": (re.compile(r"\S+"), "a tag or a digest"),
    "openvsx": (re.compile(r"\d[A-Za-z0-9.+_-]*"), "a version such as 2024.8.1"),
}
_OPENVSX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class Pin:
    kind: str
    name: str
    arg: str  # the ARG (or bake variable) that holds it
    value: str  # ${ARG}s of the same file expanded
    evidence: str
    file: str  # relative to the repository root, posix style
    line: int  # of the ARG or variable
    used: tuple[int, ...]  # lines of the same file that reference the ARG

    @property
    def verified(self) -> bool:
        """Does it cite public evidence (rather than say why it could not)?"""
        return not self.evidence.lower().startswith(UNVERIFIED)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def reference(self) -> str:
        """For an image pin, the full image reference; else the value."""
        if self.kind != "image" or "/" in self.value or self.value.startswith(self.name):
            return self.value
        joiner = "@" if self.value.startswith("sha256:") else ":"
        return f"{self.name}{joiner}{self.value}"

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "arg": self.arg,
            "value": self.value,
            "evidence": self.evidence,
            "verified": self.verified,
            "file": self.file,
            "line": self.line,
            "used": list(self.used),
        }


@dataclasses.dataclass(frozen=True)
class Problem:
    """A pin written wrongly: shown as `file:line: message` like a lint finding."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def read_dockerfile(text: str, shown_as: str) -> tuple[list[Pin], list[Problem]]:
    """The pins of one Dockerfile, and what is wrong with how they are written."""
    lines = text.splitlines()
    problems: list[Problem] = []
    values: dict[str, str] = {}  # every ARG default so far, for ${ARG} in later values
    found: list[tuple[str, str, str, str, str, int]] = []  # kind, name, arg, value, text, line
    pending: tuple[int, re.Match[str] | None] | None = None  # the pin comment just read
    for number, line in enumerate(lines, start=1):
        comment = _PIN_COMMENT.match(line)
        if pending is not None and not _ARG_LINE.match(line):
            problems.append(_not_above(shown_as, pending[0], "its `ARG VAR=VALUE`"))
            pending = None
        if comment:
            pending = (number, _pin_body(comment.group(1), shown_as, number, problems))
            continue
        arg = _ARG_LINE.match(line)
        if not arg:
            continue
        declared = _declarations(arg.group("rest"))
        if pending is not None:
            _, body = pending
            pending = None
            if len(declared) != 1 or declared[0][1] is None:
                problems.append(
                    Problem(shown_as, number, "a pin's ARG declares one VAR=VALUE: `ARG VAR=VALUE`")
                )
            elif body is not None:
                var, raw = declared[0]
                value = _expand(raw or "", values, shown_as, number, problems)
                found.append((body["kind"], body["name"], var, value, body["text"], number))
        for var, raw in declared:
            if raw is not None:
                values[var] = _REFERENCE.sub(lambda m: values.get(m[1] or m[2], m[0]), raw)
            elif var not in values:
                values[var] = ""
    if pending is not None:
        problems.append(_not_above(shown_as, pending[0], "its `ARG VAR=VALUE`"))
    pins = [
        Pin(kind, name, var, value, text, shown_as, line, _uses(lines, var, line))
        for kind, name, var, value, text, line in found
    ]
    return pins, problems + _consistency(pins)


def read_bakefile(
    text: str, shown_as: str, environ: Mapping[str, str]
) -> tuple[list[Pin], list[Problem]]:
    """The pins above `variable` blocks; values as bake resolves them with `environ`."""
    lines = text.splitlines()
    problems: list[Problem] = []
    found: list[tuple[dict[str, str], str, int]] = []
    pending: tuple[int, re.Match[str] | None] | None = None
    for number, line in enumerate(lines, start=1):
        comment = _PIN_COMMENT.match(line)
        variable = _VARIABLE_LINE.match(line)
        if pending is not None and not variable:
            problems.append(_not_above(shown_as, pending[0], 'its `variable "NAME" {` block'))
            pending = None
        if comment:
            pending = (number, _pin_body(comment.group(1), shown_as, number, problems))
        elif variable and pending is not None:
            if pending[1] is not None:
                found.append((pending[1].groupdict(), variable.group("name"), number))
            pending = None
    if pending is not None:
        problems.append(_not_above(shown_as, pending[0], 'its `variable "NAME" {` block'))
    values = bakefile.variables(text, shown_as, environ) if found else {}
    pins = []
    for body, var, number in found:
        value = str(values.get(var, ""))
        if not value and var not in environ:  # set empty on purpose: nothing to pin then
            problems.append(Problem(shown_as, number, f"pin variable {var} has no default value"))
        used = _uses(lines, var, number)
        pins.append(
            Pin(body["kind"], body["name"], var, value, body["text"], shown_as, number, used)
        )
    return pins, problems + _consistency(pins, empty_ok=True)


def collect(
    root: Path, bake_path: Path, environ: Mapping[str, str] | None = None
) -> tuple[list[Pin], list[Problem]]:
    """Every pin of the stages' Dockerfiles and the bake file, and every problem with them.

    environ: for the bake variables (bake's rule); {} gives the files' own defaults.
    """
    environ = {} if environ is None else environ
    graph = bakefile.load(bake_path, environ=environ)
    base = bake_path.parent
    pins: list[Pin] = []
    problems: list[Problem] = []
    for dockerfile in dict.fromkeys(stage.dockerfile for stage in graph.stages.values()):
        shown_as = _relative(base / dockerfile, root)
        try:
            text = (base / dockerfile).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(shown_as, 1, f"cannot read: {exc}"))
            continue
        found, wrong = read_dockerfile(text, shown_as)
        pins += found
        problems += wrong
        problems += _overridden(found, graph, dockerfile)
    found, wrong = read_bakefile(
        bake_path.read_text(encoding="utf-8"), _relative(bake_path, root), environ
    )
    return found + pins, problems + wrong


def load(root: Path, bake_path: Path, environ: Mapping[str, str] | None = None) -> list[Pin]:
    """Every pin; one ZoneError listing each problem (file:line) when any is written wrongly."""
    pins, problems = collect(root, bake_path, environ)
    if problems:
        raise ZoneError(
            f"{len(problems)} pin(s) written wrongly:\n" + "\n".join(f"  {p}" for p in problems),
            hint="a pin is `# pin: KIND NAME; evidence: TEXT` directly above `ARG VAR=VALUE`; "
            f"KIND is one of {', '.join(KINDS)}",
        )
    return pins


def _pin_body(text: str, shown_as: str, line: int, problems: list[Problem]) -> re.Match | None:
    body = _PIN_BODY.fullmatch(text)
    if body is None or not body.group("text"):
        problems.append(
            Problem(
                shown_as,
                line,
                "malformed pin comment: write `# pin: KIND NAME; evidence: TEXT` "
                "(TEXT: the public evidence, or `unverified: WHY`)",
            )
        )
        return None
    kind, evidence = body.group("kind"), body.group("text")
    if kind not in KINDS:
        problems.append(
            Problem(shown_as, line, f"unknown pin kind {kind!r}: one of {', '.join(KINDS)}")
        )
        return None
    if evidence.lower().startswith(UNVERIFIED) and not evidence[len(UNVERIFIED) :].strip():
        problems.append(Problem(shown_as, line, "`unverified:` needs the reason after it"))
        return None
    if kind == "openvsx" and not _OPENVSX_NAME.fullmatch(body.group("name")):
        problems.append(Problem(shown_as, line, "an openvsx pin names publisher.extension"))
        return None
    return body


def _not_above(shown_as: str, line: int, what: str) -> Problem:
    return Problem(shown_as, line, f"a pin comment must sit directly above {what}")


def _declarations(rest: str) -> list[tuple[str, str | None]]:
    """`ARG A=1 B` -> [("A", "1"), ("B", None)]; quotes removed as the shell would."""
    try:
        words = shlex.split(rest, comments=False)
    except ValueError:
        words = rest.split()
    declared: list[tuple[str, str | None]] = []
    for word in words:
        name, sign, value = word.partition("=")
        if _NAME.fullmatch(name):
            declared.append((name, value if sign else None))
    return declared


def _expand(
    raw: str, values: dict[str, str], shown_as: str, line: int, problems: list[Problem]
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            problems.append(
                Problem(shown_as, line, f"the pin's value uses ${{{name}}}: no ARG above sets it")
            )
            return match.group(0)
        return values[name]

    return _REFERENCE.sub(substitute, raw)


def _uses(lines: list[str], var: str, declared_at: int) -> tuple[int, ...]:
    """Lines (not comments, not the declaration) that reference $VAR or ${VAR}."""
    pattern = re.compile(rf"\$(?:\{{{re.escape(var)}(?=[}}:])|{re.escape(var)}(?![A-Za-z0-9_]))")
    return tuple(
        number
        for number, line in enumerate(lines, start=1)
        if number != declared_at
        and not line.lstrip().startswith(("#", "//"))
        and pattern.search(line)
    )


def _consistency(pins: list[Pin], empty_ok: bool = False) -> list[Problem]:
    """Values of the right form; every url pin checked by a sha256 (or, for a signing key,
    a fingerprint) pin, and the reverse."""
    problems = []
    by_arg: dict[str, Pin] = {}
    for pin in pins:
        if pin.arg in by_arg:
            first = by_arg[pin.arg]
            problems.append(
                Problem(pin.file, pin.line, f"{pin.arg} is pinned twice ({first.where})")
            )
        by_arg[pin.arg] = pin
    for pin in pins:
        shape, form = _VALUES[pin.kind]
        if not (empty_ok and not pin.value) and not shape.fullmatch(pin.value):
            problems.append(
                Problem(pin.file, pin.line, f"a {pin.kind} pin's value is {form}: {pin.value!r}")
            )
        if not pin.used:
            problems.append(
                Problem(pin.file, pin.line, f"pin {pin.arg} is used nowhere in this file")
            )
    urls = {p.arg for p in pins if p.kind == "url"}
    checked = {p.name for p in pins if p.kind in CHECKS}
    for pin in pins:
        if pin.kind in CHECKS and pin.name not in urls:
            problems.append(
                Problem(
                    pin.file,
                    pin.line,
                    f"{pin.kind} pin names {pin.name}, which is no url pin's ARG in this file",
                )
            )
        if pin.kind == "url" and pin.arg not in checked:
            problems.append(
                Problem(
                    pin.file,
                    pin.line,
                    f"url pin {pin.arg} has no sha256 pin: add `# pin: sha256 {pin.arg}; "
                    "evidence: ...` above `ARG ..._SHA256=HEX`",
                )
            )
    return problems


def _overridden(pins: list[Pin], graph: bakefile.BakeGraph, dockerfile: str) -> list[Problem]:
    """A pin that a bake target sets through `args` is not what gets built."""
    problems = []
    for stage in graph.stages.values():
        if stage.dockerfile != dockerfile:
            continue
        args = stage.definition.get("args", {})
        problems += [
            Problem(
                p.file,
                p.line,
                f"target {stage.name!r} sets {p.arg} in {graph.source}'s args, so this value is "
                "not what bake builds: pin it in one place",
            )
            for p in pins
            if p.arg in args
        ]
    return problems


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
