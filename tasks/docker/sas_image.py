"""Before a build that copies SAS from its private image: can this machine pull it?

Without access, BuildKit would fail deep in the build with a registry error; this says
at once which image and what to set instead.
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks.console import ZoneError
from tasks.docker import engine
from tasks.planning.unpinned import SAS_IMAGE
from tasks.settings import Settings
from tasks.shared.retry import Transient
from tasks.stack.bakefile import BakeGraph
from tasks.stack.dockerfile import parse

ARG = SAS_IMAGE
_USES = re.compile(rf"\$(?:\{{{ARG}\}}|{ARG}(?![A-Za-z0-9_]))")


def preflight(settings: Settings, graph: BakeGraph, targets: list[str]) -> None:
    """For each stage to build whose FROM takes a non-empty SAS_IMAGE: its registry must
    serve it (with the engine's login), or one ZoneError says what to set."""
    for name in targets:
        stage = graph.stages[name]
        image = str(stage.definition.get("args", {}).get(ARG, ""))
        if not image or not _pulls(settings.bake_path.parent / stage.dockerfile):
            continue
        try:
            found = engine.registry_digest(image) is not None
            why = "its registry has no such image"
        except ZoneError as exc:  # the registry refused: no login, or the wrong one
            found, why = False, exc.message
        except Transient as exc:
            found, why = False, f"its registry did not answer ({exc})"
        if not found:
            raise ZoneError(
                f"{name} copies SAS from {image}, which this machine cannot pull: {why}",
                hint=f"set {ARG}=<tag or digest> (it is a bake variable) or {ARG}= to build "
                "without SAS; for a private registry, `docker login` to it first",
            )


def _pulls(dockerfile: Path) -> bool:
    """Does the Dockerfile build FROM ${SAS_IMAGE}? (A stand-in stage may not.)"""
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # bake reports a missing Dockerfile better than we could
    return any(i.keyword == "FROM" and _USES.search(i.arguments) for i in parse(text))
