"""Which root stages a `base-image` setting (`--base-image`, `ZONE_BASE_IMAGE`) rebuilds.

A root stage is built on an upstream image, the `BASE_IMAGE` arg the bake file gives it.
A repository may have several roots on different upstreams (a Jupyter image, a rocker
image). The setting is either `IMAGE`, which replaces the upstream of the roots built on
the same image (repository, any tag) -- every root when they share one upstream -- or
`ROOT=IMAGE[,ROOT=IMAGE...]`, one root each. A root on another upstream never changes.
"""

from __future__ import annotations

from tasks.console import ZoneError
from tasks.stack import references
from tasks.stack.bakefile import BakeGraph

ARG = "BASE_IMAGE"


def upstream_of(graph: BakeGraph, name: str) -> str:
    """The upstream image the bake file builds root `name` on ('' when it gives none)."""
    return str(graph.stages[name].definition.get("args", {}).get(ARG, ""))


def roots(graph: BakeGraph) -> list[str]:
    return [name for name, stage in graph.stages.items() if not stage.parents]


def overrides(graph: BakeGraph, setting: str) -> dict[str, str]:
    """Root -> the upstream image the setting gives it, for the roots it changes."""
    if not setting:
        return {}
    if "=" not in setting:
        return _by_upstream(graph, setting)
    changed: dict[str, str] = {}
    for item in setting.split(","):
        root, _, image = (part.strip() for part in item.partition("="))
        if root not in graph.stages or graph.stages[root].parents:
            raise ZoneError(
                f"base-image {item.strip()!r}: {root!r} is not a root stage",
                hint=f"the roots: {_listed(graph)}; give ROOT=IMAGE, comma-separated",
            )
        if not references.is_image(image):
            raise ZoneError(f"base-image {item.strip()!r}: {image!r} is not an image reference")
        changed[root] = image
    return changed


def _by_upstream(graph: BakeGraph, image: str) -> dict[str, str]:
    every = roots(graph)
    if len({upstream_of(graph, name) for name in every}) <= 1:
        return dict.fromkeys(every, image)
    wanted = _repository(image)
    matching = [name for name in every if _repository(upstream_of(graph, name)) == wanted]
    if not matching:
        raise ZoneError(
            f"base-image {image!r}: no root stage is built on {wanted!r}, and the roots "
            "have different upstreams",
            hint=f"the roots: {_listed(graph)}; name the root: --base-image ROOT={image}",
        )
    return dict.fromkeys(matching, image)


def _repository(image: str) -> str:
    """The image without its tag or digest, as Docker names it (docker.io/library/x is x)."""
    if not references.is_image(image):
        return image
    return references.ImageRef.parse(image).familiar_name


def _listed(graph: BakeGraph) -> str:
    return ", ".join(
        f"{name} (on {upstream_of(graph, name) or 'no BASE_IMAGE'})" for name in roots(graph)
    )


def note(graph: BakeGraph, changed: dict[str, str]) -> str | None:
    """What the plan says about the roots the setting changed and those it left."""
    if not changed:
        return None
    kept = [name for name in roots(graph) if name not in changed]
    said = ", ".join(f"{name} on {image}" for name, image in changed.items())
    others = f"; not {', '.join(kept)} (another upstream)" if kept else ""
    return f"base-image: builds {said}{others}"
