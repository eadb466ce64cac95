"""What a build takes that this commit does not pin: another upstream (`--base-image`), a
bake variable that the environment overrides (`UPSTREAM_IMAGE=...`, `SAS_IMAGE=`), raw
bake flags that can change a target (`-- --set '*.args.X=...'`, `--set *.contexts...`).

Such a build is not this commit's image, whatever its files: like a dirty tree's build it
gets a tag of its own that says so (tasks/planning/tags.py: `<short sha>-custom`, and for a build
whose only difference is SAS_IMAGE= `-nosas` tags, never the default image's), a revision
label that names no commit, and push, retag and reuse treat it as a dirty build.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from tasks.planning import tags
from tasks.settings import Settings, from_pyproject
from tasks.stack import bakefile, upstreams
from tasks.stack.bakefile import BakeGraph

# Raw bake flags that change how a build runs or reports, never what it makes; any other
# raw flag (a --set, another --file, ...) makes the build custom. Value: takes a value.
_HARMLESS = {"--progress": True, "--metadata-file": True, "--debug": False, "-D": False}
# The bake variable whose empty value builds without SAS (tasks/docker/sas_image.py reads it too).
SAS_IMAGE = "SAS_IMAGE"


@dataclasses.dataclass(frozen=True)
class Unpinned:
    what: tuple[str, ...] = ()  # each input that differs, in words (no value of a raw flag)
    variant: str = ""  # the tag and label suffix: "", tags.CUSTOM or tags.NO_SAS


def find(
    settings: Settings,
    graph: BakeGraph,
    raw: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> Unpinned:
    """Every input of a build here that this commit does not pin."""
    environ = os.environ if environ is None else environ
    variables = overridden_variables(settings, environ)
    # A base-image that the committed pyproject.toml sets is the commit's own pin.
    committed = settings.base_image == from_pyproject(settings.root, "base-image")
    replaced = bool(upstream_replaced(settings, graph)) and not committed
    what = [f"--base-image {settings.base_image}"] if replaced else []
    if environment(settings, graph, environ):
        what += [f"{name}={value} (environment)" for name, value in variables.items()]
    what += [f"raw bake flag {flag}" for flag in _raw_changes(raw)]
    if not what:
        return Unpinned()
    without_sas = what == [f"{SAS_IMAGE}= (environment)"]
    return Unpinned(tuple(what), tags.NO_SAS if without_sas else tags.CUSTOM)


def upstream_replaced(settings: Settings, graph: BakeGraph) -> dict[str, str]:
    """Root stage -> the upstream image the base-image setting gives it, for the roots whose
    upstream it changes (tasks/stack/upstreams.py: those on the upstream it names, or ROOT=IMAGE):
    they must be rebuilt."""
    changed = upstreams.overrides(graph, settings.base_image)
    return {
        name: image
        for name, image in changed.items()
        if upstreams.upstream_of(graph, name) != image
    }


def environment(settings: Settings, graph: BakeGraph, environ: Mapping[str, str]) -> list[str]:
    """Stages whose target the environment's bake variables change (as bake reads them):
    their definition differs from the bake file's own. Tags do not count (the runner's)."""
    if not overridden_variables(settings, environ):
        return []
    pinned = bakefile.load(settings.bake_path, environ={})
    return [
        name
        for name, stage in graph.stages.items()
        if name not in pinned.stages or stage.comparable() != pinned.stages[name].comparable()
    ]


def overridden_variables(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """Bake variables whose value the environment sets to something else than the
    bake file's default."""
    text = settings.bake_path.read_text(encoding="utf-8")
    source = settings.bake_path.name
    defaults = bakefile.variables(text, source, {})
    ours = bakefile.variables(text, source, environ)
    return {name: str(value) for name, value in ours.items() if value != defaults.get(name)}


def _raw_changes(raw: tuple[str, ...]) -> list[str]:
    """The raw flags that may change what is built, by name and key only: a value may
    hold a secret, so it is never shown."""
    found = []
    position = 0
    while position < len(raw):
        flag, equals, value = raw[position].partition("=")
        position += 1
        takes_value = _HARMLESS.get(flag)
        if takes_value is not None:
            position += int(takes_value and not equals)
            continue
        if flag == "--set":
            if not equals and position < len(raw):
                value = raw[position]
                position += 1
            found.append(f"--set {value.partition('=')[0]}")
        else:
            found.append(flag)
    return found
