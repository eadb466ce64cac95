"""hadolint on stacked images: the rules a Dockerfile's parent stages make wrong.

hadolint reads one file alone. A stage built on another one starts from that image's
SHELL and helper scripts, and a stage that other stages build on is no image anyone runs.
For each Dockerfile this says which of hadolint's rules cannot be right there, and why;
tasks.lint.tools.hadolint switches exactly those off for that file in the config it hands
hadolint (a per-rule setting), so nothing hadolint says is filtered afterwards:

- DL4006 (set `-o pipefail` before a RUN with a pipe): off when every RUN with a pipe runs
  in a SHELL with pipefail, the parent stage's counted, or for a root stage its upstream
  image's Config.Shell (hadolint sees only this file's; tasks.lint.stages reads them).
- DL3009 (delete the apt lists): off when a RUN ends with a helper script, from this
  context or a parent stage, that deletes them; the layer check still judges every RUN of
  the file, helpers included, and reports one that leaves them (tasks.lint.layers).
- DL3002 (last USER should not be root): off, in a file with a `USER root`, when every
  stage built from the file is a parent of other stages: an intermediate image, whose
  children set the user at the end.
- DL3066 (a non-numeric USER "may not be resolvable by host system", an info): off when
  every USER of the file is `root` (uid 0 in every image), a number, or a variable whose
  value, from this file or the parent stages' ENV, is a number (`USER ${NB_UID}`).

In a file whose USERs mix `root` and names, DL3066 stays on and is wrong on each `USER
root`: tasks.lint.run says the inline ignore to add there (root_users_kept).

A rule's meaning is hadolint's own: its message, as hadolint 2.15.1 (uv.lock's) prints it,
and its Hadolint.Rule.DLxxxx module. Where a file mixes cases (a stage on an outside image
that pipes, a `USER jovyan` beside `USER root`), the rule stays on for the whole file; a
`# hadolint ignore=DLxxxx` line with its reason above the instruction silences one false
report (the `hadolint ignores` check asks for the reason).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from tasks.dockerfile import parse
from tasks.lint import layers
from tasks.lint.stages import StageImages

_PIPE = re.compile(r"(?<!\|)\|(?!\|)")  # a pipe, not `||`
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)")


@dataclasses.dataclass(frozen=True)
class Off:
    """A hadolint rule switched off for one Dockerfile, and why."""

    rule: str
    reason: str


def rules_off(path: Path, stage_images: StageImages) -> list[Off]:
    """The hadolint rules that are wrong for this Dockerfile, given its parent stages."""
    try:
        instructions = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []  # the layer check says it cannot be read
    parent, refs = stage_images.parent_of(path)
    inherited = parent or layers.Image()
    # what the file's own COPYs bring in counts too: a helper may be copied and called here
    _, own = layers.walk(instructions, path.parent, inherited, "", refs)
    helpers = {**inherited.helpers, **own.helpers}
    found = [_pipefail(instructions, inherited, refs), _apt_lists(instructions, helpers)]
    roots = any(
        i.keyword == "USER" and i.arguments.split(":")[0] in ("root", "0") for i in instructions
    )
    found.append(_intermediate(path, stage_images) if roots else None)
    found.append(_numeric_users(instructions, inherited))
    return [off for off in found if off is not None]


def has_pipefail(shell: str) -> bool:
    """A SHELL instruction's arguments (JSON form) that set pipefail for RUN."""
    try:
        words = json.loads(shell)
    except json.JSONDecodeError:
        return False
    if not isinstance(words, list):
        return False
    text = " ".join(str(word) for word in words)
    return re.search(r"\s-[a-z]*o\s+pipefail\b", f" {text}") is not None


def _pipefail(instructions: list, inherited: layers.Image, refs: frozenset[str]) -> Off | None:
    named: dict[str, layers.Image] = {}
    image = layers.Image()
    piped = 0
    for item in instructions:
        if item.keyword == "FROM":
            image, name = layers.base_of(item.arguments, named, inherited, refs)
            named[name] = image
        elif item.keyword == "SHELL":
            image.shell = item.arguments
        elif item.keyword == "RUN" and _PIPE.search(item.script):
            if not has_pipefail(image.shell):
                return None  # a pipe whose failure would go unseen: hadolint is right here
            piped += 1
    if not piped or not has_pipefail(inherited.shell):
        return None  # nothing piped, or hadolint sees every SHELL that counts
    return Off("DL4006", f"the SHELL it builds on sets pipefail: {inherited.shell}")


def _apt_lists(instructions: list, helpers: dict[str, str]) -> Off | None:
    cleaners = [name for name, text in helpers.items() if layers.deletes_apt_lists(text)]
    for item in instructions:
        if item.keyword != "RUN":
            continue
        called = [name for name in cleaners if layers.calls(item.script, name)]
        if called:
            return Off(
                "DL3009",
                f"{called[0]} (a helper script the RUN at line {item.line} calls) deletes the "
                "apt lists; the layer check judges each RUN's apt lists with the helpers",
            )
    return None


def _users(instructions: list, inherited: layers.Image) -> list[tuple[int, str]]:
    """(line, user) of each USER, its variables resolved from ARG, ENV and the parents'."""
    variables = dict(inherited.env)
    users = []
    for item in instructions:
        if item.keyword in ("ARG", "ENV"):
            variables.update(_assignments(item.arguments))
        elif item.keyword == "USER":
            user = item.arguments.strip().split(":", 1)[0]
            resolved = _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), "?"), user)
            users.append((item.line, resolved))
    return users


def _numeric_users(instructions: list, inherited: layers.Image) -> Off | None:
    users = [user for _, user in _users(instructions, inherited)]
    if not users or any(user != "root" and not user.isdigit() for user in users):
        return None
    return Off("DL3066", "every USER here is root or a number: " + ", ".join(sorted(set(users))))


def root_users_kept(path: Path, stage_images: StageImages) -> list[int]:
    """The lines of `USER root` where DL3066 stays on because other USERs of the file are
    names: hadolint's config is per file, so these take an inline ignore (said, not written)."""
    try:
        instructions = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []
    parent, _ = stage_images.parent_of(path)
    users = _users(instructions, parent or layers.Image())
    if not any(user != "root" and not user.isdigit() for _, user in users):
        return []  # DL3066 is off for the whole file (rules_off)
    return [line for line, user in users if user == "root"]


def _assignments(arguments: str) -> dict[str, str]:
    """`K=V K2="V 2"` (ARG without a default gives nothing)."""
    return {key: value.strip("\"'") for key, value in _ASSIGNMENT.findall(arguments)}


def _intermediate(path: Path, stage_images: StageImages) -> Off | None:
    graph, names = stage_images.built_from(path)
    if graph is None or not names:
        return None
    children = {name: graph.children(name) for name in names}
    if not all(children.values()):
        return None  # an image people run: its last USER matters
    built_on = "; ".join(f"{', '.join(kids)} build on {name}" for name, kids in children.items())
    return Off("DL3002", f"an intermediate image ({built_on}): its children set the user")
