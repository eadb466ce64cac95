"""Our own Dockerfile check: layers that store data twice or keep package caches.

Docker stores a layer as every file the step changed. A `RUN` that only changes the
owner or mode of files made earlier therefore copies all of them into a new layer,
doubling their size in the image; and caches left behind in a layer stay forever,
even when a later step deletes them. A stage built on another one starts with what that
image holds (tasks.lint.stages): its ENV, the folders its layers filled, its helper scripts.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shlex
from pathlib import Path

from tasks.lint.files import read_dockerfile
from tasks.lint.finding import Finding
from tasks.stack.dockerfile import Instruction, parse

_PERMISSION_COMMANDS = {"chown", "chmod", "chgrp", "fix-permissions"}
_NEUTRAL_COMMANDS = {"set", "true", ":", "cd", "export", "echo", "printf", "test", "[", "umask"}
# Commands that only make, move or remove files: what they touch is known from their words.
_FILE_COMMANDS = {"mkdir", "install", "cp", "mv", "ln", "touch", "rm", "rmdir"}
_SEPARATORS = re.compile(r"&&|\|\||[;|\n]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
_COMMENT = re.compile(r"(?m)(^|\s)#.*$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

_APT_INSTALL = re.compile(r"\bapt(?:-get)?\s+(?:[-\w=]+\s+)*(?:install|update)\b")
# `rm` with the path among its operands, wherever it comes.
_RM = r"\brm\s+(?:[^&;|\n]*?\s)?[\"']?"
_APT_CLEAN = re.compile(_RM + r"/var/lib/apt/lists(?:/\*?)?[\"']?(?=[\s;&|]|$)")
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
# pip's cache is ~/.cache/pip: removing it, or the whole ~/.cache, clears it.
_HOME = r"(?:\$HOME|\$\{HOME\}|~|/root)[\"']?"
_PIP_CACHE_REMOVED = re.compile(
    _RM + r"(?:\S*\.cache/pip\b|" + _HOME + r"/\.cache(?:/\*?)?[\"']?(?=[\s;&|]|$))"
)

_DOUBLED = (
    "RUN only changes owner/permissions of {what}: the layer copies every file it touches, "
    "doubling their size; do it in the RUN that makes them, or COPY --chown/--chmod"
)
_MIXED = (
    "RUN changes owner/permissions of {what}: the layer copies every earlier file under "
    "it, doubling their size; change only the files this RUN makes, or set them where "
    "they are made (COPY --chown/--chmod)"
)
_APT = (
    "apt lists stay in this layer: end the same RUN with `rm -rf /var/lib/apt/lists/*` "
    "(or mount a cache there)"
)
_CONDA = "conda package cache stays in this layer: end the same RUN with `conda clean -afy`"
PIP_RULE = "DL3042"  # hadolint's rule for the same problem: the lint reports it once
_PIP = (
    "pip cache stays in this layer: use `pip install --no-cache-dir` "
    "(or ENV PIP_NO_CACHE_DIR=1, or mount a cache)"
)


def check_file(
    path: Path,
    shown_as: str,
    inherited: Image | None = None,
    parent_refs: frozenset[str] = frozenset(),
) -> list[Finding]:
    """inherited: what the parent stages' images hold (tasks.lint.stages), if any;
    parent_refs: the names by which a FROM reaches them besides a build arg."""
    try:
        text = read_dockerfile(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(shown_as, 1, f"cannot read: {exc}", "layers")]
    findings = check(parse(text), path.parent, inherited, shown_as, parent_refs)
    return [
        Finding(shown_as, line, message, "layers", PIP_RULE if message == _PIP else "")
        for line, message in findings
    ]


@dataclasses.dataclass(frozen=True)
class Filled:
    """An instruction that put files somewhere: a COPY/ADD (its destination) or a RUN."""

    at: str  # "line N", or "path/Dockerfile:N" in a parent stage
    texts: tuple[str, ...]  # the destination, or the script as written and expanded
    copied: bool  # COPY/ADD: files surely land there (a RUN only mentions the path)


@dataclasses.dataclass
class Image:
    """What an image's layers hold, as far as this check needs to know: its ENV, where
    files were put (COPY destinations, RUN scripts) and the helper scripts it copied in."""

    env: dict[str, str] = dataclasses.field(default_factory=dict)
    filled: list[Filled] = dataclasses.field(default_factory=list)
    helpers: dict[str, str] = dataclasses.field(default_factory=dict)  # file name -> its text
    shell: str = ""  # the last SHELL's arguments as written ('' for none: /bin/sh -c)

    def copy(self) -> Image:
        return Image(dict(self.env), list(self.filled), dict(self.helpers), self.shell)

    def merge(self, other: Image) -> Image:
        return Image(
            {**self.env, **other.env},
            self.filled + other.filled,
            {**self.helpers, **other.helpers},
            other.shell or self.shell,
        )


def check(
    instructions: list[Instruction],
    context: Path | None = None,
    inherited: Image | None = None,
    shown_as: str = "",
    parent_refs: frozenset[str] = frozenset(),
) -> list[tuple[int, str]]:
    """(line, message) for every layer that stores data twice or keeps a cache.

    context: the build context, where the scripts that COPY brings in can be read.
    inherited: what the parent image holds, for a `FROM` of the parent (a build arg).
    """
    return walk(instructions, context, inherited, shown_as, parent_refs)[0]


def walk(
    instructions: list[Instruction],
    context: Path | None,
    inherited: Image | None,
    shown_as: str,
    parent_refs: frozenset[str] = frozenset(),
) -> tuple[list[tuple[int, str]], Image]:
    """The findings, and what the last stage's image holds (for the stages built on it)."""
    found: list[tuple[int, str]] = []
    parent = inherited or Image()
    named: dict[str, Image] = {}  # `FROM ... AS name` -> that stage's image
    image = Image()
    variables: dict[str, str] = {}  # ARG and ENV values, for expanding paths
    for item in instructions:
        if item.keyword == "FROM":  # a new stage starts from another image's layers
            image, name = base_of(item.arguments, named, parent, parent_refs)
            named[name] = image
            variables = dict(image.env)
        elif item.keyword in ("ENV", "ARG"):
            values = _assignments(item.arguments)
            variables.update(values)
            if item.keyword == "ENV":
                image.env.update({k: _expand(v, variables) for k, v in values.items()})
        elif item.keyword in ("COPY", "ADD"):
            words = _words(item.arguments)
            if words:
                at = _at(shown_as, item.line)
                image.filled.append(Filled(at, (_expand(words[-1], variables),), True))
            if context is not None and not item.flag_values("from"):
                image.helpers.update(_copied_scripts(context, words[:-1]))
        elif item.keyword == "SHELL":
            image.shell = item.arguments
        elif item.keyword == "RUN":
            script = _COMMENT.sub(r"\1", item.script)
            message = _doubled(script, image.filled, variables, shown_as)
            if message:
                found.append((item.line, message))
            # A helper such as clean-layer.sh cleans in the same layer as if written inline.
            called = [text for name, text in image.helpers.items() if calls(script, name)]
            messages = _caches(item, script, "\n".join([script, *called]), variables)
            found += [(item.line, message) for message in messages]
            filling = _filling(script)
            texts = (filling, _expand(filling, variables))
            image.filled.append(Filled(_at(shown_as, item.line), texts, False))
    return found, image


def _filling(script: str) -> str:
    """A RUN's script without the commands that put no files in the paths they name
    (mkdir, install -d, permission changes): what is left may have filled a folder."""
    kept = []
    for command in _SEPARATORS.split(script):
        words = _words(command)
        name = words[0].rsplit("/", 1)[-1] if words else ""
        empty = name == "mkdir" or (name == "install" and "-d" in words)
        if not (empty or name in _PERMISSION_COMMANDS):
            kept.append(command)
    return "\n".join(kept)


def base_of(
    arguments: str, named: dict[str, Image], parent: Image, parent_refs: frozenset[str]
) -> tuple[Image, str]:
    """The image a FROM starts from: an earlier stage of this file, the parent stage (named
    through a build arg, `FROM ${BASE_IMAGE}`, or by name or tag), or an outside image."""
    words = arguments.split()
    source = words[0] if words else ""
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
    if source in named:
        return named[source].copy(), name
    if "$" in source or source in parent_refs:
        return parent.copy(), name
    return Image(), name


def _at(shown_as: str, line: int) -> str:
    return f"{shown_as}:{line}" if shown_as else f"line {line}"


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


def calls(script: str, name: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", script) is not None


def deletes_apt_lists(script: str) -> bool:
    return _APT_CLEAN.search(script) is not None


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


def _doubled(script: str, filled: list[Filled], variables: dict, shown_as: str) -> str:
    """The message for a RUN whose permission change copies earlier layers' files, or ''."""
    commands = _permission_commands(script)
    if commands is None or not commands.targets:
        return ""
    if not commands.made:  # changing permissions is all it does
        return _DOUBLED.format(what=_origin(commands.targets, filled, variables, shown_as))
    made = [_normal(_expand(path, variables)) for path in commands.made]
    copied = []
    for target, recursive_always in commands.targets:
        resolved = _normal(_expand(target, variables))
        made_here = any(resolved == m or resolved.startswith(m + "/") for m in made)
        # chmod -R / chown -R touch every file under the target; fix-permissions only those
        # whose group or mode is off: files a COPY put there (a RUN's it has fixed before).
        earlier = _filled_at(target, resolved, filled, copied_only=not recursive_always)
        if earlier or (recursive_always and not made_here):
            copied.append((target, earlier))
    if not copied:
        return ""
    what = " ".join(target for target, _ in copied)
    where = next((at for _, at in copied if at), "")
    origin = f"{what}, filled at {_place(where, shown_as)}" if where else f"{what}, made earlier"
    return _MIXED.format(what=origin)


@dataclasses.dataclass
class _Commands:
    targets: list[tuple[str, bool]]  # (path, changes every file under it) of -R changes
    made: list[str]  # paths the RUN's own file commands make (mkdir, install, cp ...)


def _permission_commands(script: str) -> _Commands | None:
    """A RUN's recursive permission changes and the paths it makes, when permission and
    plain file commands are all it runs; None when it runs anything else (an installer
    may write anywhere, so what the change touches is unknown)."""
    commands = _Commands([], [])
    for command in _SEPARATORS.split(script):
        words = _words(command)
        while words and (_ASSIGNMENT.fullmatch(words[0]) or words[0] in ("sudo", "exec")):
            words = words[1:]
        if not words or words[0] in _NEUTRAL_COMMANDS:
            continue
        name = words[0].rsplit("/", 1)[-1]
        if name == "find" and _find_changes_permissions(words):
            commands.targets += [(path, True) for path in _before_first_option(words[1:])]
        elif name == "fix-permissions":  # the stacks' helper: recursive, fixes what is off
            commands.targets += [(path, False) for path in words[1:]]
        elif name in _PERMISSION_COMMANDS:
            options = [w for w in words[1:] if w.startswith("-")]
            if any(o == "--recursive" or re.fullmatch(r"-[a-zA-Z]*R[a-zA-Z]*", o) for o in options):
                operands = [w for w in words[1:] if not w.startswith("-")]
                commands.targets += [(path, True) for path in operands[1:]]  # first: owner/mode
        elif name in _FILE_COMMANDS:
            commands.made += _made_by(name, words[1:])
        else:
            return None
    return commands


def _made_by(name: str, arguments: list[str]) -> list[str]:
    """The paths mkdir, install, cp, mv, ln or touch makes (rm and friends make none)."""
    operands: list[str] = []
    directory = ""
    skip = False
    for word in arguments:
        if skip:
            skip = False
        elif word in ("-t", "--target-directory"):
            directory = "next"
        elif word.startswith("--target-directory="):
            directory = word.split("=", 1)[1]
        elif directory == "next":
            directory = word
        elif word.startswith("-"):
            # install's -o/-g/-m/-S and mkdir's -m take a value
            skip = name in ("install", "mkdir") and word in ("-o", "-g", "-m", "-S", "--mode")
        else:
            operands.append(word)
    if directory == "next":
        directory = ""
    if name in ("mkdir", "touch") or (name == "install" and "-d" in arguments):
        return operands
    if name in ("cp", "install", "mv", "ln"):
        if directory:
            return [directory]
        return operands[-1:] if len(operands) >= 2 else []
    return []


def _filled_at(raw: str, resolved: str, filled: list[Filled], copied_only: bool = False) -> str:
    """Where an earlier instruction put files at or under a path, or ''."""
    raw = _normal(raw)
    for entry in reversed(filled):
        if copied_only and not entry.copied:
            continue
        if any(_mentions(_normal(text), raw, resolved) for text in entry.texts):
            return entry.at
    return ""


def _place(at: str, shown_as: str) -> str:
    """'line 4' for this file, 'images/base/Dockerfile:12' for an ancestor's."""
    if shown_as and at.startswith(shown_as + ":"):
        return f"line {at.rsplit(':', 1)[1]}"
    return at


def _normal(path: str) -> str:
    """${NAME} spelt $NAME and no trailing slash, so that two spellings compare equal."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", r"$\1", path).rstrip("/") or "/"


def _origin(
    targets: list[tuple[str, bool]],
    filled: list[Filled],
    variables: dict,
    shown_as: str,
) -> str:
    shown = " ".join(target for target, _ in targets)
    for target, _ in targets:
        where = _filled_at(target, _normal(_expand(target, variables)), filled)
        if where:
            return f"{shown}, filled at {_place(where, shown_as)}"
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
