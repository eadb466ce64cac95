"""docs/stages.md, generated from the bake file so the picture never drifts from the build."""

from __future__ import annotations

import re
from pathlib import Path

from tasks import bakefile
from tasks.bakefile import BakeGraph

STAGES_DOC = "docs/stages.md"
_NODE_ID = re.compile(r"[^A-Za-z0-9_]")


def render(graph: BakeGraph) -> str:
    lines = [
        "# Stages",
        "",
        f"Generated from `{graph.source}` by `nox -s docs`; do not edit by hand",
        "(`nox -s lint` fails when this file is stale).",
        "",
        "```mermaid",
        "graph TD",
    ]
    # One node per distinct upstream image that a root stage starts from.
    upstreams: dict[str, str] = {}
    for stage in graph.stages.values():
        if not stage.parents:
            upstreams.setdefault(_upstream(stage), f"upstream{len(upstreams) + 1}")
    lines += [f'  {node}["(upstream) {image}"]' for image, node in upstreams.items()]
    for stage in graph.stages.values():
        lines.append(f'  {_node(stage.name)}["{stage.name}<br/>{stage.context}"]')
    for stage in graph.stages.values():
        if not stage.parents:
            lines.append(f"  {upstreams[_upstream(stage)]} --> {_node(stage.name)}")
        lines += [f"  {_node(parent)} --> {_node(stage.name)}" for parent in stage.parents]
    lines += [
        "```",
        "",
        "| stage | folder | parent | tags the runner gives it |",
        "| --- | --- | --- | --- |",
    ]
    for stage in graph.stages.values():
        parent = ", ".join(f"`{p}`" for p in stage.parents) or "(upstream)"
        tags = f"`REGISTRY/{stage.name}:BRANCH`, `:SHA`, `:SHORT_SHA`"
        lines.append(f"| `{stage.name}` | `{stage.context}` | {parent} | {tags} |")
    lines += [
        "",
        "The upstream image's tag is pinned in the bake file only.",
        "On the release branch every image also gets `:VERSION` (`v2`) and `:latest`.",
        "REGISTRY, the release branch and VERSION are settings (`[tool.zone]` in",
        "pyproject.toml); BRANCH is the branch name made a valid tag.",
    ]
    groups = [f"`{name}`: {', '.join(members)}" for name, members in graph.groups.items()]
    if groups:
        lines += ["", "Groups: " + "; ".join(groups) + "."]
    return "\n".join(lines) + "\n"


def _upstream(stage: bakefile.Stage) -> str:
    """The root stage's upstream image, without its tag or digest: the pin lives in the
    bake file alone, so bumping it leaves this document current."""
    image = str(stage.definition.get("args", {}).get("BASE_IMAGE", ""))
    if not image:
        return "(no BASE_IMAGE)"
    image = image.split("@", 1)[0]
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def _node(name: str) -> str:
    return "s_" + _NODE_ID.sub("_", name)


def generated(bake_path: Path) -> str:
    """The document as the bake file's defaults give it, whatever the environment says."""
    return render(bakefile.load(bake_path, environ={}))


def write(root: Path, bake_path: Path) -> Path:
    target = root / STAGES_DOC
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(generated(bake_path), encoding="utf-8")
    return target


def stale(root: Path, bake_path: Path) -> str | None:
    """Why docs/stages.md does not match the bake file, or None when it does."""
    target = root / STAGES_DOC
    if not target.is_file():
        return "missing: run `nox -s docs`"
    if target.read_text(encoding="utf-8") != generated(bake_path):
        return f"stale: does not match {bake_path.name}; run `nox -s docs`"
    return None
