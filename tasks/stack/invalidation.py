"""Which of a stage's own instructions a change makes BuildKit run again: the first changed
one and every one after it (a cache miss invalidates the rest of the stage).

"Own" instructions are those of the image's build stage after its FROM, as the release
was built from them (the Dockerfile at the merge base). BuildKit records one history
entry for each of them except ONBUILD, which is how the plan's estimate finds their
layers in the release's image config.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from tasks.stack.dockerfile import Instruction, parse

_NO_HISTORY = {"ONBUILD"}  # instructions BuildKit records no history entry for


@dataclasses.dataclass(frozen=True)
class Start:
    """Where the rebuild of one stage's own instructions starts."""

    index: int  # into own_instructions(the merge base's Dockerfile); 0: all of them
    instruction: str  # the first instruction run again, as written ('' when all)
    why: str


def own_instructions(text: str, target: str | None = None) -> list[Instruction]:
    """The instructions after the FROM of the build stage the image is (`target`, else the
    last), that leave a history entry."""
    instructions = parse(text)
    begins = [i for i, item in enumerate(instructions) if item.keyword == "FROM"]
    if not begins:
        return []
    start = begins[-1]
    if target:
        named = [i for i in begins if _stage_name(instructions[i]) == target.lower()]
        start = named[0] if named else start
    end = next((i for i in begins if i > start), len(instructions))
    return [item for item in instructions[start + 1 : end] if item.keyword not in _NO_HISTORY]


def first_rebuilt(
    old_text: str | None,
    new_text: str,
    target: str | None,
    read_lines: Iterable[tuple[int, str]],
    changed_args: Iterable[str] = (),
    whole: str | None = None,
) -> Start:
    """The first own instruction of the merge base's Dockerfile (`old_text`) that a
    change runs again. `read_lines`: (line in `new_text`, why) of each instruction that
    reads a changed file (line 0: the file decides the whole build); `changed_args`:
    build args whose value the bake file changed; `whole`: why every instruction runs
    again (a rebuilt parent, a changed target), if so."""
    if whole:
        return Start(0, "", whole)
    if old_text is None:
        return Start(0, "", "a new Dockerfile")
    old, new = own_instructions(old_text, target), own_instructions(new_text, target)
    if _before_own(old_text, target) != _before_own(new_text, target):
        return Start(0, "", "its FROM, or an instruction before it, changed")
    candidates: list[tuple[int, str]] = []
    same = _common_prefix(old, new)
    if same < len(new):  # only instructions removed from its end: the rest is cached
        candidates.append((same, "the Dockerfile changed here"))
    by_line = {item.line: index for index, item in enumerate(new)}
    for line, why in read_lines:
        if line == 0:
            return Start(0, "", why)
        if line in by_line:
            candidates.append((min(by_line[line], same), why))
        else:  # read by an earlier build stage or the FROM: the whole stage may change
            return Start(0, "", why)
    before = _before_own(new_text, target)
    for name in changed_args:
        if before and _uses(before[-1:], name):
            return Start(0, "", f"build arg {name} (used by its FROM)")
        if any(_declares(item, name) or _uses([item], name) for item in before):
            # An earlier build stage (or a global ARG) reads it: what it makes may change.
            return Start(0, "", f"build arg {name} (read before its FROM)")
        used = _first_use(new, name)
        if used is not None:
            candidates.append((min(used, same), f"build arg {name}"))
    if not candidates:
        return Start(len(old), "", "none of its own instructions")
    index, why = min(candidates, key=lambda found: found[0])
    shown = _written(old[index]) if index < len(old) else ""
    return Start(index, shown, why)


def _stage_name(item: Instruction) -> str:
    words = item.arguments.split()
    return words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""


def _before_own(text: str, target: str | None) -> list[tuple]:
    """The instructions up to and including the image's FROM, compared as a whole (an
    earlier build stage, a global ARG, the FROM line itself)."""
    instructions = parse(text)
    own = own_instructions(text, target)
    end = len(instructions) if not own else instructions.index(own[0])
    begins = [i for i, item in enumerate(instructions[:end]) if item.keyword == "FROM"]
    cut = begins[-1] + 1 if begins else end
    return [_comparable(item) for item in instructions[:cut]]


def _comparable(item: Instruction) -> tuple:
    # The text as written: BuildKit's cache key for a RUN is its exact command line.
    return (item.keyword, item.flags, item.arguments, item.heredocs)


def _declares(item: tuple | Instruction, name: str) -> bool:
    keyword, arguments = (
        (item[0], item[2]) if isinstance(item, tuple) else (item.keyword, item.arguments)
    )
    return keyword == "ARG" and arguments.split("=")[0].strip() == name


def _common_prefix(old: list[Instruction], new: list[Instruction]) -> int:
    count = 0
    for before, after in zip(old, new, strict=False):
        if _comparable(before) != _comparable(after):
            break
        count += 1
    return count


def _uses(instructions: Iterable[object], name: str) -> bool:
    pattern = re.compile(r"\$\{?" + re.escape(name) + r"\b")
    return any(pattern.search(str(item)) for item in instructions)


def _first_use(own: list[Instruction], name: str) -> int | None:
    """Docker: a changed build arg misses the cache at its first use after its ARG, and
    every RUN after the ARG uses it (build args are in RUN's environment)."""
    declared = next((i for i, item in enumerate(own) if _declares(item, name)), None)
    if declared is None:
        return None
    for index in range(declared + 1, len(own)):
        item = own[index]
        if item.keyword == "RUN" or _uses([item], name):
            return index
    return None


def _written(item: Instruction) -> str:
    flags = " ".join(f"--{name}={value}" if value else f"--{name}" for name, value in item.flags)
    return " ".join(part for part in (item.keyword, flags, item.arguments) if part)
