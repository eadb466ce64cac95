"""What a stage's build can read, so that a changed path changes only the stages that see it.

A build reads its Dockerfile and, from its context and its local named contexts, what a
COPY/ADD or a `RUN --mount=type=bind` names, minus what `.dockerignore` excludes.
`COPY . dest` reads everything not ignored; a README that nothing copies is read by no
one. Where the Dockerfile cannot be read with certainty (a source from a build arg, a
heredoc), every file of the context counts, and the reason says so.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import posixpath
import re
from pathlib import Path

from tasks.console import ZoneError
from tasks.stack.bakefile import Stage
from tasks.stack.dockerfile import Instruction, parse

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^git@")
_GLOB = re.compile(r"[*?\[]")


@dataclasses.dataclass(frozen=True)
class Source:
    folder: str  # repository-relative folder the pattern is relative to
    pattern: str  # "." for everything in the folder
    why: str  # e.g. "COPY, Dockerfile:12"
    line: int  # the Dockerfile line of the instruction that reads it


@dataclasses.dataclass(frozen=True)
class Ignore:
    """A .dockerignore: Docker's rules (Go's filepath.Match plus `**`, `!` exceptions, the
    last matching line wins, a matched folder excludes what is in it)."""

    rules: tuple[tuple[re.Pattern[str], bool], ...]  # (pattern, is an exception)

    @classmethod
    def read(cls, path: Path) -> Ignore:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return cls(())
        rules = []
        for line in text.splitlines():
            if line.startswith("#"):  # Docker: a comment only when `#` comes first
                continue
            line = line.strip()
            if not line:
                continue
            exception = line.startswith("!")
            pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
            rules.append((re.compile(_translate(pattern)), exception))
        return cls(tuple(rules))

    def excludes(self, relative: str) -> bool:
        excluded = False
        for pattern, exception in self.rules:
            if _matches_or_parent(pattern, relative):
                excluded = not exception
        return excluded


def _translate(pattern: str) -> str:
    """A Go filepath.Match pattern (with Docker's `**`) as a regular expression."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):  # moby: `**` at the end is anything, else
            index += 2  # any number of folders (`**/x` matches `x`, `**.md` only `.md`)
            index += pattern.startswith("/", index)
            out.append(".*" if index >= len(pattern) else "(?:.*/)?")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _matches_or_parent(pattern: re.Pattern[str], relative: str) -> bool:
    """The path or one of the folders it is in matches (copying or ignoring a folder
    takes everything inside it)."""
    parts = relative.split("/")
    return any(pattern.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1))


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The paths one stage's build reads."""

    dockerfile: str
    context: str
    sources: tuple[Source, ...]
    everything: str | None  # why every file of the context counts, when it does
    ignores: dict[str, Ignore]  # folder -> its .dockerignore
    everything_line: int = 0  # the line of the instruction that makes everything count

    def why(self, path: str) -> str | None:
        """Why the build reads `path` (repository-relative), or None when it does not."""
        found = self.reader(path)
        return found[0] if found else None

    def reader(self, path: str) -> tuple[str, int] | None:
        """(why the build reads `path`, the Dockerfile line of the first instruction that
        reads it: 0 for what decides the whole build), or None when it does not."""
        if path == self.dockerfile:
            return path, 0
        if path in (f"{self.dockerfile}.dockerignore", _join(self.context, ".dockerignore")):
            return f"{path} (decides what the build can read)", 0
        for source in self.sources:
            if not _inside(path, source.folder):
                continue
            relative = _relative(path, source.folder)
            if _reads(source.pattern, relative) and not self._ignored(source.folder, path):
                if self._everything_reads(path) and self.everything_line < source.line:
                    break  # an instruction before it may read the path already
                return f"{path} ({source.why})", source.line
        if self._everything_reads(path):
            return f"{path} ({self.everything})", self.everything_line
        return None

    def _everything_reads(self, path: str) -> bool:
        """Every file of the context counts, and `path` is one (not ignored)."""
        inside = bool(self.everything) and _inside(path, self.context)
        return inside and not self._ignored(self.context, path)

    def _ignored(self, folder: str, path: str) -> bool:
        ignore = self.ignores.get(folder)
        return ignore is not None and ignore.excludes(_relative(path, folder))


def _reads(pattern: str, relative: str) -> bool:
    if pattern in (".", ""):
        return True
    if _GLOB.search(pattern):
        return _matches_or_parent(_compiled(pattern), relative)
    return relative == pattern or relative.startswith(pattern + "/")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(_translate(pattern))


def _inside(path: str, folder: str) -> bool:
    return folder in (".", "") or path == folder or path.startswith(folder + "/")


def _relative(path: str, folder: str) -> str:
    return path if folder in (".", "") else path[len(folder) + 1 :]


def _join(folder: str, name: str) -> str:
    return name if folder in (".", "") else f"{folder}/{name}"


def of(root: Path, stage: Stage) -> Inputs:
    """What `stage` reads, from its Dockerfile in the working tree under `root`."""
    name = posixpath.basename(stage.dockerfile)
    ignores = {stage.context: _main_ignore(root, stage)}
    for folder in stage.local_contexts.values():
        ignores.setdefault(folder, Ignore.read(root / folder / ".dockerignore"))
    try:
        text = (root / stage.dockerfile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        why = f"every file in the context: {stage.dockerfile} cannot be read"
        return Inputs(stage.dockerfile, stage.context, (), why, ignores)
    sources: list[Source] = []
    everything, everything_line = None, 0
    for item in parse(text):
        found, unsure = _sources(item, stage, name)
        sources += found
        if unsure and everything is None:
            everything = f"every file in the context: {unsure}, {name}:{item.line}"
            everything_line = item.line
    return Inputs(
        stage.dockerfile, stage.context, tuple(sources), everything, ignores, everything_line
    )


def _main_ignore(root: Path, stage: Stage) -> Ignore:
    # BuildKit: a Dockerfile-specific ignore file (Dockerfile.dockerignore) wins.
    specific = root / f"{stage.dockerfile}.dockerignore"
    return Ignore.read(specific if specific.is_file() else root / stage.context / ".dockerignore")


def _sources(item: Instruction, stage: Stage, name: str) -> tuple[list[Source], str | None]:
    """(sources read, why the instruction cannot be read with certainty, if so)."""
    where = f"{item.keyword}, {name}:{item.line}"
    if item.keyword == "FROM":
        image = item.arguments.split()[0] if item.arguments.split() else ""
        folder = stage.local_contexts.get(image)
        return (
            [Source(folder, ".", f"FROM, {name}:{item.line}", item.line)] if folder else []
        ), None
    if item.keyword in ("COPY", "ADD"):
        if item.heredocs:
            return [], f"{item.keyword} <<heredoc"
        words = _words(item.arguments)[:-1]  # the last word is the destination
        froms = item.flag_values("from")
        origin = froms[-1] if froms else None
        folder = stage.context if origin is None else stage.local_contexts.get(origin)
        if folder is None:  # from a build stage, an image or another target
            return [], None
        found = []
        for word in words:
            if item.keyword == "ADD" and _URL.match(word):
                continue
            if "$" in word:
                return [], f"{item.keyword} {word} from a variable"
            found.append(Source(folder, _clean(word), where, item.line))
        return found, None
    if item.keyword == "RUN":
        found = []
        for mount in item.flag_values("mount"):
            options = dict(_option(part) for part in mount.split(",") if part)
            if options.get("type", "bind") != "bind":
                continue
            origin = options.get("from")
            folder = stage.context if origin is None else stage.local_contexts.get(origin)
            if folder is None:
                continue
            path = options.get("source") or options.get("src") or "."
            if "$" in path:
                return [], f"RUN --mount source {path} from a variable"
            found.append(
                Source(folder, _clean(path), f"RUN --mount, {name}:{item.line}", item.line)
            )
        return found, None
    return [], None


def _option(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    return key.strip().lower(), value.strip()


def _words(arguments: str) -> list[str]:
    if arguments.startswith("["):
        try:
            words = json.loads(arguments)
        except json.JSONDecodeError:
            words = None
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            return words
    return arguments.split()


def _clean(source: str) -> str:
    """A source relative to its context; BuildKit clamps `..` at the context's root."""
    parts = [part for part in posixpath.normpath(source.lstrip("/")).split("/") if part != ".."]
    cleaned = "/".join(parts)
    return "." if cleaned in (".", "") else cleaned


def refuse_links_outside(repository: Path, root: Path, stage: Stage) -> None:
    """A folder bake sends (the context, a local named context: under `root`, the bake
    file's folder), or anything in it that `.dockerignore` lets through, that is a symlink
    leading out of the repository is refused: bake would read what no git diff can see."""
    folders = {stage.context: _main_ignore(root, stage)}
    for folder in stage.local_contexts.values():
        folders.setdefault(folder, Ignore.read(root / folder / ".dockerignore"))
    for folder, ignore in folders.items():
        _refuse_links_in(repository.resolve(), root / folder, ignore)


def _refuse_links_in(top: Path, base: Path, ignore: Ignore) -> None:
    # An excluded folder is skipped whole unless an exception (`!`) may bring some back.
    prune = not any(exception for _, exception in ignore.rules)
    for current, subfolders, files in os.walk(base):
        here = Path(current)
        inside = here.relative_to(base).as_posix()
        if prune:
            subfolders[:] = [
                name for name in subfolders if not ignore.excludes(_join(inside, name))
            ]
        entries = [here] if here == base else []
        entries += [here / entry for entry in (*subfolders, *files)]
        for entry in entries:
            if entry != base and ignore.excludes(entry.relative_to(base).as_posix()):
                continue
            if entry.is_symlink() or entry == base:
                target = entry.resolve()
                if target != top and top not in target.parents:
                    shown = _shown(entry, top)
                    raise ZoneError(
                        f"{shown} is a symlink to {target}, outside the repository: bake "
                        "would read files that the plan cannot see",
                        hint="put the files themselves in the repository (or a local named "
                        "context inside it), and remove the link",
                    )


def _shown(entry: Path, top: Path) -> str:
    """The link's path from the repository's top (where it was found: not resolved)."""
    absolute = Path(os.path.abspath(entry))
    return absolute.relative_to(top).as_posix() if top in absolute.parents else str(entry)
