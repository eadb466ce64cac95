"""Our own Dockerfile check: layers that store data twice or keep package caches.

Docker stores a layer as every file the step changed. A `RUN` that only changes the
owner or mode of files made earlier therefore copies all of them into a new layer,
doubling their size in the image; and caches left behind in a layer stay forever,
even when a later step deletes them.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

from tasks.dockerfile import Instruction, parse
from tasks.lint.finding import Finding

_PERMISSION_COMMANDS = {"chown", "chmod", "chgrp", "fix-permissions"}
_NEUTRAL_COMMANDS = {"set", "true", ":", "cd"}
_SEPARATORS = re.compile(r"&&|\|\||[;|\n]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
_COMMENT = re.compile(r"(?m)(^|\s)#.*$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

_APT_INSTALL = re.compile(r"\bapt(?:-get)?\s+(?:[-\w=]+\s+)*(?:install|update)\b")
_APT_CLEAN = re.compile(r"\brm\s+(?:-\w+\s+)*/var/lib/apt/lists(?:/\*?)?(?:\s|$)")
_CONDA_INSTALL = re.compile(
    r"\b(?:conda|mamba|micromamba)\s+(?:install|create|update|env\s+(?:create|update))\b"
)
# Only a clean that removes packages or tarballs counts (`--index-cache` alone keeps them).
_CONDA_CLEAN = re.compile(
    r"\b(?:conda|mamba|micromamba)\s+clean\b[^&;|\n]*"
    r"(?:--all|--packages|--tarballs|\s-[a-zA-Z]*[apt][a-zA-Z]*\b)"
)
_PIP_INSTALL = re.compile(r"\bpip3?(?:\.\d+)?\s+install\b|\bpython[\d.]*\s+-m\s+pip\s+install\b")
_PIP_NO_CACHE = re.compile(r"--no-cache-dir\b|\bPIP_NO_CACHE_DIR=\S|\bpip3?\s+cache\s+purge\b")
_PIP_CACHE_REMOVED = re.compile(r"\brm\s+(?:-\w+\s+)*\S*\.cache/pip\b")

_DOUBLED = (
    "RUN only changes owner/permissions of {what}: the layer copies every file it touches, "
    "doubling their size; do it in the RUN that makes them, or COPY --chown/--chmod"
)
_APT = (
    "apt lists stay in this layer: end the same RUN with `rm -rf /var/lib/apt/lists/*` "
    "(or mount a cache there)"
)
_CONDA = "conda package cache stays in this layer: end the same RUN with `conda clean -afy`"
_PIP = (
    "pip cache stays in this layer: use `pip install --no-cache-dir` "
    "(or ENV PIP_NO_CACHE_DIR=1, or mount a cache)"
)


def check_file(path: Path, shown_as: str) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(shown_as, 1, f"cannot read: {exc}", "layers")]
    findings = check(parse(text), path.parent)
    return [Finding(shown_as, line, message, "layers") for line, message in findings]


def check(instructions: list[Instruction], context: Path | None = None) -> list[tuple[int, str]]:
    """(line, message) for every layer that stores data twice or keeps a cache.

    context: the build context, where the scripts that COPY brings in can be read.
    """
    found: list[tuple[int, str]] = []
    variables: dict[str, str] = {}
    filled: list[tuple[int, list[str]]] = []  # (line, paths or RUN text) made in this stage
    helpers: dict[str, str] = {}  # file name -> text of scripts copied in from the context
    for item in instructions:
        if item.keyword == "FROM":  # a new stage starts from another image's layers
            variables, filled, helpers = {}, [], {}
        elif item.keyword in ("ENV", "ARG"):
            variables.update(_assignments(item.arguments))
        elif item.keyword in ("COPY", "ADD"):
            words = _words(item.arguments)
            if words:
                filled.append((item.line, [_expand(words[-1], variables)]))
            if context is not None and not item.flag_values("from"):
                helpers.update(_copied_scripts(context, words[:-1]))
        elif item.keyword == "RUN":
            script = _COMMENT.sub(r"\1", item.script)
            targets = _permission_only_targets(script)
            if targets is not None:
                found.append((item.line, _DOUBLED.format(what=_origin(targets, filled, variables))))
            # A helper such as clean-layer.sh cleans in the same layer as if written inline.
            called = [text for name, text in helpers.items() if _calls(script, name)]
            messages = _caches(item, script, "\n".join([script, *called]), variables)
            found += [(item.line, message) for message in messages]
            filled.append((item.line, [script, _expand(script, variables)]))
    return found


def _copied_scripts(context: Path, sources: list[str]) -> dict[str, str]:
    """File name -> text of each file a COPY takes from the build context."""
    scripts: dict[str, str] = {}
    root = context.resolve()
    for source in sources:
        if "://" in source or source.startswith("<<") or ".." in source:
            continue
        pattern = source.lstrip("/")
        for match in root.glob(pattern) if pattern.strip(".") else [root]:
            for path in match.rglob("*") if match.is_dir() else [match]:
                if path.is_file() and path.stat().st_size < 100_000:
                    scripts[path.name] = path.read_text(encoding="utf-8", errors="replace")
    return scripts


def _calls(script: str, name: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", script) is not None


def _permission_only_targets(script: str) -> list[str] | None:
    """The paths a RUN changes recursively, when changing permissions is all it does."""
    targets: list[str] = []
    for command in _SEPARATORS.split(script):
        words = _words(command)
        while words and (_ASSIGNMENT.fullmatch(words[0]) or words[0] in ("sudo", "exec")):
            words = words[1:]
        if not words or words[0] in _NEUTRAL_COMMANDS:
            continue
        name = words[0].rsplit("/", 1)[-1]
        if name == "find" and _find_changes_permissions(words):
            targets += _before_first_option(words[1:])
            continue
        if name not in _PERMISSION_COMMANDS:
            return None
        if name == "fix-permissions":  # the stacks' helper: always recursive
            targets += words[1:]
            continue
        options = [w for w in words[1:] if w.startswith("-")]
        if not any(o == "--recursive" or re.fullmatch(r"-[a-zA-Z]*R[a-zA-Z]*", o) for o in options):
            continue
        operands = [w for w in words[1:] if not w.startswith("-")]
        targets += operands[1:]  # the first is the owner or the mode
    return targets or None


def _find_changes_permissions(words: list[str]) -> bool:
    """`find PATH ... -exec chown|chmod|chgrp ...`: a recursive permission change too."""
    return any(
        flag in ("-exec", "-execdir") and nxt.rsplit("/", 1)[-1] in _PERMISSION_COMMANDS
        for flag, nxt in itertools.pairwise(words)
    )


def _before_first_option(words: list[str]) -> list[str]:
    paths = []
    for word in words:
        if word.startswith("-") or word in ("(", "!"):
            break
        paths.append(word)
    return paths


def _origin(targets: list[str], filled: list[tuple[int, list[str]]], variables: dict) -> str:
    shown = " ".join(targets)
    for target in targets:
        resolved = _expand(target, variables).rstrip("/")
        for line, texts in reversed(filled):
            if any(_mentions(text, target.rstrip("/"), resolved) for text in texts):
                return f"{shown}, filled at line {line}"
    return f"{shown}, files made in earlier layers"


def _mentions(text: str, raw: str, resolved: str) -> bool:
    text = text.rstrip("/")
    if text.startswith((resolved + "/", raw + "/")) or text in (raw, resolved):
        return True  # a COPY into the path
    if resolved.startswith(text + "/") and text.startswith("/"):
        return True  # a COPY of a folder that holds the path
    return any(re.search(rf"(?<![\w/]){re.escape(p)}(?![\w])", text) for p in {raw, resolved} if p)


def _caches(item: Instruction, script: str, cleaning: str, variables: dict[str, str]) -> list[str]:
    """script: what the RUN says; cleaning: that and the helper scripts it calls."""
    caches = [_cache_target(m) for m in item.flag_values("mount") if "type=cache" in m]
    messages = []
    if (
        _APT_INSTALL.search(script)
        and not _APT_CLEAN.search(cleaning)
        and not any(c.startswith("/var/lib/apt") for c in caches)
    ):
        messages.append(_APT)
    if (
        _CONDA_INSTALL.search(script)
        and not _CONDA_CLEAN.search(cleaning)
        and not any(c.rstrip("/").endswith("pkgs") for c in caches)
    ):
        messages.append(_CONDA)
    pip_cache_off = variables.get("PIP_NO_CACHE_DIR", "") not in ("", "0", "false", "off", "no")
    if (
        _PIP_INSTALL.search(script)
        and not pip_cache_off
        and not _pip_commands_all_uncached(script)
        and not _PIP_CACHE_REMOVED.search(cleaning)
        and not any(c.rstrip("/").endswith(".cache/pip") or c.endswith(".cache") for c in caches)
    ):
        messages.append(_PIP)
    return messages


def _pip_commands_all_uncached(script: str) -> bool:
    commands = [c for c in re.split(r"&&|\|\||[;\n]", script) if _PIP_INSTALL.search(c)]
    if re.search(r"\bPIP_NO_CACHE_DIR=[^0\s]", script):  # exported for the whole RUN
        return True
    return all(_PIP_NO_CACHE.search(c) for c in commands)


def _cache_target(mount: str) -> str:
    for part in mount.split(","):
        key, _, value = part.partition("=")
        if key in ("target", "dst", "destination"):
            return value
    return ""


def _assignments(arguments: str) -> dict[str, str]:
    """ENV/ARG `K=V K2=V2`, `ENV K V` (legacy form) and `ARG K` (no default)."""
    words = _words(arguments)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    values = {}
    for word in words:
        key, sign, value = word.partition("=")
        if sign:
            values[key] = value
    return values


def _expand(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False)
    except ValueError:  # an unbalanced quote across a separator: split on spaces instead
        return text.split()
