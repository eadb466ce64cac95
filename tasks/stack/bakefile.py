"""Read docker-bake.hcl into a stage graph, without Docker.

python-hcl2 gives raw values: string literals keep their quotes, expressions come as
`${...}` or bare identifiers. We resolve what bake itself would for the constructs we
use (variables with defaults, overridden by same-name environment variables; `${VAR}`
inside strings; `inherits`) and refuse anything else with the file and line, so the
graph we plan with is the graph bake builds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import graphlib
import hashlib
import json
import os
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.console import ZoneError
from tasks.shared import files
from tasks.stack import references
from tasks.stack.dockerfile import parse as parse_dockerfile

_INTERPOLATION = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|%\{")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_WHOLE_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SUPPORTED_BLOCKS = {"variable", "target", "group"}
_BLOCK_LABEL = re.compile(r'^[ \t]*(target|group)[ \t]*"((?:[^"\\\n]|\\.)*)"', re.MULTILINE)
# bake's rule for target and group names, without a leading - (read as a flag)
_BAKE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class Link:
    """How a stage reaches a parent stage: a `target:` named context, a build arg that a
    FROM uses and whose value names the parent (by target name or tag), or both."""

    parent: str
    context_key: str | None  # the `contexts` key mapped to target:PARENT
    arg: str | None  # the build arg naming PARENT


@dataclasses.dataclass(frozen=True)
class Stage:
    """One bake target: one image of the stack."""

    name: str
    context: str  # folder, relative to the bake file's directory, posix style
    dockerfile: str  # relative to the bake file's directory
    links: tuple[Link, ...]  # one per parent stage, in the order the definition names them
    tags: tuple[str, ...]
    definition: Mapping[str, Any]  # the resolved target
    local_contexts: Mapping[str, str]  # named contexts that are folders: key -> folder

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(link.parent for link in self.links)

    @property
    def parent(self) -> str | None:
        return self.parents[0] if self.parents else None

    @property
    def folder_alias(self) -> str:
        return PurePosixPath(self.context).name

    def comparable(self) -> dict[str, Any]:
        """The definition as it matters to the image, compared across commits: tags are
        the runner's (it replaces them), and a parent is the same parent whether a
        `contexts` link, an arg, or both say it (adding mirroring links changes nothing)."""
        definition = {k: v for k, v in self.definition.items() if k != "tags"}
        linked = {link.context_key for link in self.links if link.context_key}
        contexts = {k: v for k, v in definition.get("contexts", {}).items() if k not in linked}
        args = dict(definition.get("args", {}))
        for link in self.links:
            if link.arg:
                args[link.arg] = f"target:{link.parent}"
        definition.update(contexts=contexts, args=args, parents=sorted(self.parents))
        return definition


@dataclasses.dataclass(frozen=True)
class BakeGraph:
    source: str  # the file's name, for messages
    stages: dict[str, Stage]  # in build order: every parent before its children
    groups: dict[str, tuple[str, ...]]
    warnings: tuple[str, ...] = ()  # e.g. a base image name that will come from Docker Hub

    def children(self, name: str) -> list[str]:
        return [s.name for s in self.stages.values() if name in s.parents]

    def ancestors(self, name: str) -> list[str]:
        """Every stage `name` is built on, in build order."""
        seen: set[str] = set()
        todo = list(self.stages[name].parents)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.stages[current].parents)
        return [n for n in self.stages if n in seen]

    def leaves(self) -> list[str]:
        return [n for n in self.stages if not self.children(n)]

    def with_ancestors(self, names: list[str]) -> list[str]:
        wanted = set(names)
        for name in names:
            wanted.update(self.ancestors(name))
        return [n for n in self.stages if n in wanted]

    def with_descendants(self, names: Iterable[str]) -> list[str]:
        """The named stages and every stage built on one of them, in build order: what a
        change to the named stages changes."""
        wanted = set(names)
        for stage in self.stages.values():  # build order: a parent is decided first
            if any(parent in wanted for parent in stage.parents):
                wanted.add(stage.name)
        return [n for n in self.stages if n in wanted]

    def resolve(self, requested: str) -> list[str]:
        """A target name, a group, or the name or path of a folder that builds exactly one
        target (and names no other target) -> stage names."""
        aliases = self.aliases()
        key = requested.strip().rstrip("/").removeprefix("./")
        folders = self.folders()
        if "/" in key and len(folders.get(key, [])) == 1:  # a folder's path says which
            return folders[key]
        short = key.removeprefix("images/")
        for candidate in (key, short, short.replace("_", "-"), short.replace("-", "_")):
            if candidate in aliases:
                return [aliases[candidate]]
            if candidate in self.groups:
                return list(self.groups[candidate])
        shared = folders.get(key) or next(
            (t for f, t in folders.items() if PurePosixPath(f).name == short and len(t) > 1), None
        )
        if shared:
            raise ZoneError(
                f"{requested!r} is a folder that builds several targets: {', '.join(shared)}",
                hint="name the target to build",
            )
        known = sorted(set(aliases) | set(self.groups))
        close = difflib.get_close_matches(short, known, n=1, cutoff=0.6)
        suggestion = f"; did you mean {aliases.get(close[0], close[0])!r}?" if close else ""
        raise ZoneError(
            f"unknown image {requested!r}{suggestion}",
            hint=f"known images: {', '.join(self.stages)} (or their folder names), "
            f"groups: {', '.join(self.groups) or 'none'}",
        )

    def folders(self) -> dict[str, list[str]]:
        """Context folder -> the targets built from it, in build order."""
        built: dict[str, list[str]] = {}
        for stage in self.stages.values():
            built.setdefault(stage.context, []).append(stage.name)
        return built

    def aliases(self) -> dict[str, str]:
        """Name -> target: every target's name, and the folder name of each folder that
        builds exactly one target, where that name is not another target's."""
        names: dict[str, str] = {}
        by_name: dict[str, list[str]] = {}
        for folder, targets in self.folders().items():
            by_name.setdefault(PurePosixPath(folder).name, []).extend(targets)
        for alias, targets in by_name.items():
            if len(targets) == 1 and (alias not in self.stages or alias == targets[0]):
                names[alias] = targets[0]
        names.update({s.name: s.name for s in self.stages.values()})
        return names

    def alias_of(self, name: str) -> str | None:
        """The folder name that stands for target `name` on the command line, if any."""
        alias = self.stages[name].folder_alias
        return alias if self.aliases().get(alias) == name else None


def load(path: Path, environ: Mapping[str, str] | None = None) -> BakeGraph:
    """The graph of the bake file at `path`; Dockerfiles are read beside it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ZoneError(
            f"no bake file at {path}",
            hint="run from the repository root, or set [tool.zone] bake-file in pyproject.toml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneError(f"cannot read the bake file {path}: {exc}") from None
    return parse(text, path.name, environ, path.parent)


def parse(
    text: str,
    source: str,
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> BakeGraph:
    """The graph of a bake file's text. With `root` (the bake file's folder), a build arg
    links to a parent only when a FROM of the stage's Dockerfile uses it; without (a bake
    file at another commit), any arg whose value names a target does."""
    environ = os.environ if environ is None else environ
    raw = _hcl(text, source)
    for block in raw:
        if block not in _SUPPORTED_BLOCKS:
            raise ZoneError(
                f"{source}:{_line_of(text, block)}: `{block}` is not supported here",
                hint="the runner reads variable, target and group blocks; "
                "keep the bake file to those so `nox -s plan` sees what bake builds",
            )
    resolver = _Resolver(text, source, _blocks(raw, "variable", source), environ)
    bodies = _blocks(raw, "target", source)
    targets = {name: resolver.target(name, body) for name, body in bodies.items()}
    # A target that others inherit from and that names no context is a template, not a stage.
    inherited = {parent for body in targets.values() for parent in body.get("inherits", [])}
    templates = {name for name in inherited if "context" not in targets.get(name, {"context": 1})}
    definitions = {
        name: resolver.inherit(name, targets) for name in targets if name not in templates
    }
    names = _reference_names(definitions)
    warnings: list[str] = []
    stages = {
        name: _stage(name, definition, source, text, root, names, warnings)
        for name, definition in definitions.items()
    }
    groups = {
        name: tuple(_strings(resolver.value(body.get("targets", []), f'group "{name}"'), name))
        for name, body in _blocks(raw, "group", source).items()
    }
    for name, members in groups.items():
        for member in members:
            if member not in stages and member not in groups:
                raise ZoneError(
                    f"{source}:{_line_of(text, 'group', name)}: "
                    f"group {name!r} names unknown target {member!r}"
                )
    groups = {name: tuple(_expand(name, groups, set())) for name in groups}
    stages = _in_build_order(stages, source, text)
    graph = BakeGraph(source=source, stages=stages, groups=groups, warnings=tuple(warnings))
    _refuse_unusable(graph, text)
    return graph


CACHE_FORMAT = "hcl2-checked"  # {"sha256": of the reading, "hcl": the reading}


def _hcl(text: str, source: str) -> dict[str, Any]:
    """python-hcl2's raw reading of `text`, kept in a cache by content: importing
    python-hcl2 and lark and running the parser cost more than the rest of a plan."""
    # The entries' format in the folder's name: runners of other releases share the
    # machine's cache (one venv per repository) and never read each other's entries.
    folder = files.cache_folder(CACHE_FORMAT)
    cached = folder / f"{hashlib.sha256((_parser_stamp() + text).encode()).hexdigest()}.json"
    raw = _read_cached(cached)
    if raw is not None:
        return raw
    import hcl2
    import lark

    try:
        raw = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(with_comments=False))
    except lark.exceptions.UnexpectedInput as exc:
        raise ZoneError(
            f"{source}:{exc.line}:{exc.column}: not valid HCL",
            hint=_context_line(text, exc.line),
        ) from None
    except Exception as exc:  # python-hcl2 raises several types for bad input
        raise ZoneError(f"{source}: not valid HCL ({exc})") from None
    from tasks.shared.files import write_whole  # only when the cache is written

    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(cached, json.dumps({"sha256": _checksum(raw), "hcl": raw}))
    except OSError:
        pass  # no cache: the next plan parses again
    return raw


def _read_cached(cached: Path) -> dict[str, Any] | None:
    """A cache entry's reading, when it is whole: what was written, its checksum agreeing.
    A damaged one (cut short, edited) is deleted, to be made again."""
    try:
        data = cached.read_bytes()
    except OSError:
        return None
    try:
        entry = json.loads(data)
    except ValueError:
        entry = None
    raw = entry.get("hcl") if isinstance(entry, dict) else None
    if isinstance(raw, dict) and entry.get("sha256") == _checksum(raw):
        return raw
    with contextlib.suppress(OSError):
        cached.unlink()
    return None


def _checksum(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


# The distributions whose code makes the reading: (import name, wheel name).
_PARSER_CODE = (("hcl2", "python_hcl2"), ("lark", "lark"))


def _parser_stamp() -> str:
    """Which python-hcl2 and lark read the file (others may read the same text otherwise),
    found without importing them: their files and hashes as their wheels' RECORDs list
    them. The same in every venv that installed the same wheels, so a fresh venv (each CI
    job's) reads the cache too and never builds lark's parser tables, 2 s on first use in
    a venv. (The RECORD's scripts differ by venv: their first line names its Python.)
    Without RECORDs: where python-hcl2 is installed, and when."""
    from importlib.util import find_spec

    spec = find_spec("hcl2")
    if spec is None or spec.origin is None:
        raise ZoneError("python-hcl2 is not installed", hint="run the runner through nox")
    site = Path(spec.origin).parent.parent
    listed = []
    for package, wheel in _PARSER_CODE:
        for record in site.glob(f"{wheel}-*.dist-info/RECORD"):
            with contextlib.suppress(OSError):
                lines = record.read_text(errors="replace").splitlines()
                listed += [line for line in lines if line.startswith(package + "/")]
    if listed:
        return hashlib.sha256("\n".join(sorted(listed)).encode()).hexdigest() + "\n"
    return f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}\n"


def _refuse_unusable(graph: BakeGraph, text: str) -> None:
    """Refuse what bake would reject later, or what would build nothing or the wrong thing:
    no stage at all, names bake or image references cannot take, a BASE_IMAGE that is no
    image reference."""
    source = graph.source
    for match in _BLOCK_LABEL.finditer(text):
        kind, name = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        if not _BAKE_NAME.fullmatch(name):
            raise ZoneError(
                f"{source}:{line}: {kind} name {name!r} is not one bake accepts",
                hint="names are letters, digits, _ and - (bake's rule), not starting with -",
            )
        if kind == "target" and name in graph.stages and not references.COMPONENT.fullmatch(name):
            raise ZoneError(
                f"{source}:{line}: target name {name!r} cannot be an image name",
                hint="a stage's name is its image's name: lowercase letters and digits, "
                "joined by single _ or -",
            )
    if not graph.stages:
        raise ZoneError(
            f"{source}: no targets to build",
            hint='add a target "NAME" { context = "images/NAME" } block per stage',
        )
    for stage in graph.stages.values():
        where = f"{source}:{_line_of(text, 'target', stage.name)}: target {stage.name!r}"
        base_image = stage.definition.get("args", {}).get("BASE_IMAGE")
        if base_image is not None and not references.is_image(base_image):
            raise ZoneError(f"{where}: BASE_IMAGE {base_image!r} is not an image reference")


def _expand(name: str, groups: dict[str, tuple[str, ...]], seen: set[str]) -> list[str]:
    if name in seen:
        return []
    seen.add(name)
    members: list[str] = []
    for member in groups[name]:
        members += _expand(member, groups, seen) if member in groups else [member]
    return list(dict.fromkeys(members))


# Named-context values that are not folders of this repository.
_REMOTE_CONTEXT = re.compile(r"^(target:|docker-image://|oci-layout://|[a-z][a-z0-9+.-]*://|git@)")
_FROM_ARG = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_FROM_ALIAS = re.compile(r"\s+as\s+", re.IGNORECASE)


def _stage(
    name: str,
    definition: dict[str, Any],
    source: str,
    text: str,
    root: Path | None,
    names: dict[str, set[str]],
    warnings: list[str],
) -> Stage:
    where = f"{source}:{_line_of(text, 'target', name)}: target {name!r}"
    context = definition.get("context", ".")
    if not isinstance(context, str) or "://" in context or context.startswith("target:"):
        raise ZoneError(f"{where} must have a local folder as context")
    context = _inside_project(context, where)
    dockerfile = definition.get("dockerfile", "Dockerfile")
    if not isinstance(dockerfile, str):
        raise ZoneError(f"{where}: dockerfile must be a string")
    dockerfile = _inside_project(str(PurePosixPath(context) / dockerfile), where)
    for key in ("args", "contexts", "labels"):
        value = definition.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ZoneError(f"{where}: {key} must be a map of strings")
    contexts: dict[str, str] = definition.get("contexts", {})
    local = {
        key: _inside_project(value, f"{where}: contexts.{key}")
        for key, value in contexts.items()
        if not _REMOTE_CONTEXT.match(value)
    }
    from_args = _from_args(root, dockerfile)
    if from_args is not None and not from_args.froms:
        raise ZoneError(
            f"{where}: its Dockerfile {dockerfile} has no FROM: bake cannot build it",
            hint=_from_hint(name, definition, names, "put at its top: "),
        )
    links = _links(name, definition, from_args, names, where, warnings)
    tags = tuple(_strings(definition.get("tags", []), f"{where}: tags"))
    return Stage(name, context, dockerfile, links, tags, definition, local)


def _links(
    name: str,
    definition: dict[str, Any],
    from_args: _Froms | None,
    names: dict[str, set[str]],
    where: str,
    warnings: list[str],
) -> tuple[Link, ...]:
    """The stage's parents: `target:` contexts, and build args (used by a FROM; any arg
    when the Dockerfile is not known) whose value names a target. BuildKit resolves
    `FROM ${ARG}` to a named context of that name first, so a context link wins."""
    contexts: dict[str, str] = definition.get("contexts", {})
    by_name = {_normal(key): key for key in contexts}
    links: dict[str, Link] = {
        value.removeprefix("target:"): Link(value.removeprefix("target:"), key, None)
        for key, value in contexts.items()
        if value.startswith("target:")
    }
    unread: dict[str, tuple[str, str]] = {}  # arg -> (value, target), no FROM reading it
    for arg, value in definition.get("args", {}).items():
        named = sorted(names.get(_normal(value), set()) - {name})
        if from_args is not None and arg not in from_args.args:
            if named:
                unread.setdefault(arg, (value, named[0]))
            continue
        if len(named) > 1:
            raise ZoneError(
                f"{where}: {arg} = {value!r} names more than one target: {', '.join(named)}",
                hint=f"give each target its own tags, or link one: "
                f'contexts = {{ {named[0]} = "target:{named[0]}" }}',
            )
        key = by_name.get(_normal(value))
        if key is not None:  # a named context of the same name is what the FROM gets
            linked = contexts[key].removeprefix("target:")
            if named and contexts[key] != f"target:{named[0]}":
                raise ZoneError(
                    f"{where}: {arg} = {value!r} names target {named[0]!r}, but contexts "
                    f"maps {key!r} to {contexts[key]!r}",
                    hint=f'make them agree: contexts = {{ {key} = "target:{named[0]}" }}'
                    + (f'  or  args = {{ {arg} = "{linked}" }}' if key != value else ""),
                )
            if linked in links:
                links[linked] = Link(linked, key, arg)
            continue
        if named:  # the FROM reads no named context: the arg alone links (bake is told)
            known = links.get(named[0])
            links[named[0]] = Link(named[0], known.context_key if known else None, arg)
        elif "/" not in value and value and "$" not in value:
            warnings.append(
                f"{where}: {arg} = {value!r} names no target and no registry: the image "
                "will be pulled from Docker Hub (a target by that name or tag would be built)"
            )
    given = definition.get("args", {})
    # Built on no target and on no arg the bake file gives: it would silently be a root.
    if unread and not links and from_args is not None and not from_args.args & set(given):
        arg, (value, target) = next(iter(unread.items()))
        raise ZoneError(
            f"{where}: {arg} = {value!r} names target {target!r}, but no FROM of "
            f"{from_args.dockerfile} reads {arg}: bake would not build on {target!r}",
            hint=f"make the Dockerfile's FROM read it: ARG {arg} then FROM ${{{arg}}}",
        )
    return tuple(links.values())


@dataclasses.dataclass(frozen=True)
class _Froms:
    dockerfile: str
    froms: tuple[str, ...]  # each FROM's image, as written
    args: frozenset[str]  # the build args those images use


def _from_args(root: Path | None, dockerfile: str) -> _Froms | None:
    """The Dockerfile's FROM lines and the build args they use; None when it cannot be
    read (no folder given: a bake file at another commit)."""
    if root is None:
        return None
    try:
        text = (root / dockerfile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    froms = tuple(
        _FROM_ALIAS.split(item.arguments)[0]
        for item in parse_dockerfile(text)
        if item.keyword == "FROM"
    )
    args = frozenset(match.group(1) for image in froms for match in _FROM_ARG.finditer(image))
    return _Froms(dockerfile, froms, args)


def _from_hint(
    name: str, definition: Mapping[str, Any], names: dict[str, set[str]], lead: str
) -> str:
    """What to add to a Dockerfile without a FROM: the arg that names its parent, read."""
    for arg, value in definition.get("args", {}).items():
        named = sorted(names.get(_normal(value), set()) - {name})
        if named:
            read = f"ARG {arg} then FROM ${{{arg}}}"
            return f"{lead}{read} ({arg} = {value!r} names target {named[0]!r})"
    return (
        f'{lead}ARG BASE_IMAGE then FROM ${{BASE_IMAGE}}, with args = {{ BASE_IMAGE = "PARENT" }}'
    )


def _reference_names(definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Image reference -> the targets it names: each target's name and its tags."""
    names: dict[str, set[str]] = {}
    for target, definition in definitions.items():
        tags = definition.get("tags", [])
        for ref in [target, *(tags if isinstance(tags, list) else [])]:
            if isinstance(ref, str):
                names.setdefault(_normal(ref), set()).add(target)
    return names


def _normal(ref: str) -> str:
    """An image reference as Docker compares them: docker.io/library/x:latest is x."""
    if not references.is_image(ref):
        return ref  # bake refuses it later; it names nothing but itself
    image = references.ImageRef.parse(ref)
    return image.familiar if image.tag or image.digest else f"{image.familiar}:latest"


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ZoneError(f"{where} must be a list of strings")
    return value


def _inside_project(path: str, where: str) -> str:
    """A normalised posix path; refused when it leaves the project folder."""
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if not parts:
                raise ZoneError(f"{where}: {path!r} is outside the project folder")
            parts.pop()
        elif part not in (".", "/"):
            parts.append(part)
    if PurePosixPath(path).is_absolute():
        raise ZoneError(f"{where}: {path!r} must be relative to the bake file's folder")
    return "/".join(parts) or "."


def _in_build_order(stages: dict[str, Stage], source: str, text: str) -> dict[str, Stage]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for stage in stages.values():
        for parent in stage.parents:
            if parent not in stages:
                raise ZoneError(
                    f"{source}:{_line_of(text, 'target', stage.name)}: target "
                    f"{stage.name!r} links to unknown target {parent!r} (contexts)"
                )
        sorter.add(stage.name, *stage.parents)
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])  # parent first: "a -> b" means b builds on a
        raise ZoneError(
            f"{source}: cycle between stages: {cycle}",
            hint="each stage may only build on stages before it; fix the `target:` contexts "
            "or the build args that name targets",
        ) from None
    return {name: stages[name] for name in order}


def _blocks(raw: dict[str, Any], kind: str, source: str) -> dict[str, dict[str, Any]]:
    """python-hcl2 gives [{'"name"': {...}}, ...]; we want {name: body}.

    Blocks of one name merge, later attributes winning, as bake merges them.
    """
    blocks: dict[str, dict[str, Any]] = {}
    for entry in raw.get(kind, []):
        for label, body in entry.items():
            if not (label.startswith('"') and isinstance(body, dict)):
                raise ZoneError(f'{source}: every {kind} block needs a name: {kind} "NAME" {{...}}')
            fields = {k: v for k, v in body.items() if not k.startswith("__")}
            _merge(blocks.setdefault(_unquote(label), {}), fields)
    return blocks


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw


def _line_of(text: str, kind: str, label: str | None = None) -> int:
    pattern = rf'^[ \t]*{re.escape(kind)}\s*"{re.escape(label)}"' if label else rf"^[ \t]*{kind}\b"
    match = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _context_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return f"  {line} | {lines[line - 1]}" if 0 < line <= len(lines) else ""


def _unescape(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if len(escaped) > 1:  # a \u (4 hex digits) or \U (8 hex digits) escape
        return chr(int(escaped[1:], 16))
    return _ESCAPES.get(escaped, escaped)


def _merge(into: dict[str, Any], overrides: dict[str, Any]) -> None:
    """bake's inheritance: maps merge key by key, everything else is replaced."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            value = {**into[key], **value}
        into[key] = value


class _Resolver:
    """Turns python-hcl2's raw values into plain Python values, as bake would."""

    def __init__(
        self, text: str, source: str, variables: dict[str, dict], environ: Mapping[str, str]
    ):
        self.text = text
        self.source = source
        self.variables = variables
        self.environ = environ
        self.cache: dict[str, Any] = {}
        self.resolving: list[str] = []

    def variable(self, name: str, where: str) -> Any:
        if name not in self.variables:
            raise ZoneError(f"{where}: unknown variable {name!r}")
        if name in self.cache:
            return self.cache[name]
        if name in self.environ:  # bake's rule: a same-name environment variable wins
            value: Any = self.environ[name]
        else:
            if name in self.resolving:
                chain = " -> ".join([*self.resolving, name])
                raise ZoneError(f"{where}: variables refer to each other in a loop: {chain}")
            self.resolving.append(name)
            line = _line_of(self.text, "variable", name)
            default = self.variables[name].get("default", '""')
            value = self.value(default, f"{self.source}:{line}: variable {name!r}")
            self.resolving.pop()
        self.cache[name] = value
        return value

    def target(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        where = f"{self.source}:{_line_of(self.text, 'target', name)}"
        if "matrix" in body:
            raise ZoneError(f"{where}: target {name!r} uses `matrix`, which is not supported here")
        return {key: self.value(value, where) for key, value in body.items()}

    def inherit(self, name: str, targets: dict[str, dict], chain: tuple[str, ...] = ()) -> dict:
        if name in chain:
            raise ZoneError(f"{self.source}: targets inherit in a loop: {' -> '.join(chain)}")
        definition: dict[str, Any] = {}
        for parent in targets[name].get("inherits", []):
            if parent not in targets:
                line = _line_of(self.text, "target", name)
                raise ZoneError(f"{self.source}:{line}: {name!r} inherits unknown {parent!r}")
            _merge(definition, self.inherit(parent, targets, (*chain, name)))
        _merge(definition, {k: v for k, v in targets[name].items() if k != "inherits"})
        return definition

    def value(self, raw: Any, where: str) -> Any:
        if isinstance(raw, list):
            return [self.value(item, where) for item in raw]
        if isinstance(raw, dict):
            return {
                _unquote(k): self.value(v, where) for k, v in raw.items() if not k.startswith("__")
            }
        if raw is None:
            return ""  # bake renders null as an empty string
        if not isinstance(raw, str):
            return raw
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            whole = _WHOLE_REFERENCE.fullmatch(raw[1:-1])
            if whole:  # "${X}" is X itself, a list stays a list
                return self.variable(whole.group(1), where)
            return self.template(raw[1:-1], where)
        expression = raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw
        if _IDENTIFIER.fullmatch(expression.strip()):
            return self.variable(expression.strip(), where)
        raise ZoneError(
            f"{where}: cannot resolve expression `{expression}`",
            hint="the runner resolves string literals and ${VARIABLE} references only",
        )

    def template(self, body: str, where: str) -> str:
        if body.startswith("<<"):  # heredoc: <<EOT or <<-EOT (indented), no escapes
            opener, rest = body.split("\n", 1)
            body = rest.rsplit("\n", 1)[0] + "\n"
            if opener.startswith("<<-"):
                body = textwrap.dedent(body)
        else:
            body = _ESCAPE.sub(_unescape, body)

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) in ("$${", "%%{"):
                return match.group(0)[1:]
            if match.group(0) == "%{":
                raise ZoneError(f"{where}: template directives (%{{...}}) are not supported")
            inner = match.group(1).strip()
            if not _IDENTIFIER.fullmatch(inner):
                raise ZoneError(
                    f"{where}: cannot resolve `${{{inner}}}`",
                    hint="the runner resolves ${VARIABLE} references only",
                )
            value = self.variable(inner, where)
            return str(value).lower() if isinstance(value, bool) else str(value)

        return _INTERPOLATION.sub(substitute, body)


def variables(text: str, source: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every variable's value as bake resolves it: its default, unless a same-name
    environment variable is set. (The pins read the bake file's image pins with it.)"""
    environ = os.environ if environ is None else environ
    raw = _hcl(text, source)
    resolver = _Resolver(text, source, _blocks(raw, "variable", source), environ)
    return {
        name: resolver.variable(name, f"{source}: variable {name!r}") for name in resolver.variables
    }
