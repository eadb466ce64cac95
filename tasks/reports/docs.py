"""docs/stages.md and docs/pins.md, generated from the bake file and the Dockerfiles so
the picture never drifts from the build."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.pinning import pin_like, pins
from tasks.settings import Settings
from tasks.stack import bakefile
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef

VERSION_TAG = Settings.version_tag  # the setting's default, when no settings are given

STAGES_DOC = "docs/stages.md"
PINS_DOC = "docs/pins.md"
_NODE_ID = re.compile(r"[^A-Za-z0-9_]")


def render(graph: BakeGraph, version_tag: str = VERSION_TAG) -> str:
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
        f"On the release branch every image also gets `:VERSION` (`{version_tag}`) and `:latest`.",
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
    return ImageRef.parse(image).name


def _node(name: str) -> str:
    return "s_" + _NODE_ID.sub("_", name)


def generated(bake_path: Path, version_tag: str = VERSION_TAG) -> str:
    """The document as the bake file's defaults give it, whatever the environment says."""
    return render(bakefile.load(bake_path, environ={}), version_tag)


def render_pins(found: list[pins.Pin], bake_name: str, unpinned: int = 0) -> str:
    """`unpinned`: how many ARGs of the stages' Dockerfiles look like pins without one."""
    verified = sum(pin.verified for pin in found)
    lines = [
        "# Pins",
        "",
        f"Every external version, download, checksum and image of the stack, read from the "
        f"stages' Dockerfiles and `{bake_name}` by `nox -s docs`; do not edit by hand",
        "(`nox -s lint` fails when this file is stale). Each is a `# pin: KIND NAME; evidence: "
        "TEXT` line above its `ARG`; `nox -s pins` checks online that every one resolves.",
        "",
        f"**{len(found)} pins: {verified} verified by public evidence, "
        f"{len(found) - verified} unverified** (the evidence says why).",
        "",
        *(
            [
                f"**{unpinned} ARGs look like pins (a version, URL or checksum) but have no "
                "`# pin:` line**: not listed here, never checked; `nox -s lint` shows each "
                "with the line to add.",
                "",
            ]
            if unpinned
            else []
        ),
        "| kind | name | value | where | used at | evidence |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for pin in found:
        used = ", ".join(str(line) for line in pin.used) or "nowhere"
        evidence = pin.evidence if pin.verified else f"**{pin.evidence}**"
        lines.append(
            f"| {pin.kind} | `{pin.name}` | `{pin.value}` | `{pin.arg}`, {pin.where} | "
            f"{used} | {_cell(evidence)} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def generated_pins(root: Path, bake_path: Path) -> str:
    """docs/pins.md as the files' defaults give it (ZoneError when a pin is written wrongly)."""
    return render_pins(pins.load(root, bake_path, environ={}), bake_path.name, _unpinned(bake_path))


def _unpinned(bake_path: Path) -> int:
    """The pin-like ARGs without a `# pin:` line in the stages' Dockerfiles."""
    graph = bakefile.load(bake_path, environ={})
    count = 0
    for dockerfile in dict.fromkeys(stage.dockerfile for stage in graph.stages.values()):
        try:
            text = (bake_path.parent / dockerfile).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # pins.load says it cannot be read
        count += len(pin_like.find(text))
    return count


def write(root: Path, bake_path: Path, version_tag: str = VERSION_TAG) -> list[Path]:
    """Write both documents, or neither when either cannot be made."""
    texts = {
        STAGES_DOC: generated(bake_path, version_tag),
        PINS_DOC: generated_pins(root, bake_path),
    }
    written = []
    for relative, text in texts.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def stale(root: Path, bake_path: Path, version_tag: str = VERSION_TAG) -> str | None:
    """Why docs/stages.md does not match the bake file and settings, or None when it does."""
    target = root / STAGES_DOC
    if not target.is_file():
        return "missing: run `nox -s docs`"
    if target.read_text(encoding="utf-8") != generated(bake_path, version_tag):
        return (
            f"stale: does not match {bake_path.name} and the settings "
            f"(version-tag {version_tag}); run `nox -s docs`"
        )
    return None


def pins_stale(root: Path, bake_path: Path) -> str | None:
    """Why docs/pins.md does not match the pins, or None when it does."""
    target = root / PINS_DOC
    if not target.is_file():
        return "missing: run `nox -s docs`"
    if target.read_text(encoding="utf-8") != generated_pins(root, bake_path):
        return (
            "stale: does not match the pins in the Dockerfiles and the bake file; run `nox -s docs`"
        )
    return None
