"""Bars for sizes: a Mermaid bar chart for the job summary (GitHub renders ```mermaid
blocks) and a bar of plain characters for the terminal, so that "most of it one layer"
is seen before anything is read.

Labels come from Dockerfile instructions and stage names: text from users. Mermaid's
xychart grammar has no escape inside a "quoted" label, and reads `;` as a statement end,
`%%` as a comment and `#name;` as an entity; Markdown ends the block at a backtick
fence. So a label keeps only letters, digits and a few harmless marks, nothing else.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

TOP = 5  # bars before "others"
LABEL_CHARACTERS = 40  # a bar's label, cut: an axis of long labels leaves no room for bars
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:/=+@()-]+")
_SPACES = re.compile(r"\s+")
_UNITS = (("GB", 10**9), ("MB", 10**6), ("kB", 10**3))
_EIGHTHS = " ▏▎▍▌▋▊▉"  # a cell's part of a bar, in eighths (index 0: nothing)


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    size: int  # bytes


def bars(items: Sequence[tuple[str, int]], top: int = TOP) -> list[Bar]:
    """The `top` largest (label, bytes), largest first (ties in the given order), then one
    "others" bar with the rest summed, when there is a rest. Each label is numbered, so
    two layers made by the same instruction stay two bars."""
    ranked = sorted(enumerate(items), key=lambda pair: (-pair[1][1], pair[0]))
    shown = [
        Bar(f"{rank}: {label(text)}", size)
        for rank, (_, (text, size)) in enumerate(ranked[:top], 1)
    ]
    rest = [size for _, (_, size) in ranked[top:]]
    if rest:
        shown.append(Bar(others(len(rest)), sum(rest)))
    return shown


def others(count: int) -> str:
    return f"others ({count} layer{'' if count == 1 else 's'})"


def label(text: str, limit: int = LABEL_CHARACTERS) -> str:
    """`text` as a label Mermaid and Markdown take as plain words: unsafe characters become
    one space, the result cut to `limit` characters (an ellipsis of dots says so)."""
    safe = _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip()
    if len(safe) > limit:
        safe = safe[: limit - 3].rstrip() + "..."
    return safe or "-"


def unit(largest: int) -> tuple[str, int]:
    """The decimal unit (as `cost.size` counts) that shows `largest` with few digits."""
    return next(((name, scale) for name, scale in _UNITS if largest >= scale), ("B", 1))


def mermaid(title: str, shown: Sequence[Bar]) -> str:
    """A fenced ```mermaid horizontal bar chart of `shown`; '' when there is no byte to draw
    (no bar, or every bar empty): a chart of nothing says less than no chart."""
    largest = max((bar.size for bar in shown), default=0)
    if largest <= 0:
        return ""
    name, scale = unit(largest)
    values = ", ".join(_number(bar.size / scale) for bar in shown)
    categories = ", ".join(f'"{label(bar.label)}"' for bar in shown)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta horizontal",
            f'    title "{label(title, 80)}"',
            f"    x-axis [{categories}]",
            # From 0: Mermaid's own range starts at the smallest bar, which then shows none.
            f'    y-axis "{name}" 0 --> {_number(largest / scale)}',
            f"    bar [{values}]",
            "```",
        ]
    )


def _number(value: float) -> str:
    """Two decimals, never an exponent (the grammar reads digits and one dot only)."""
    return f"{value:.2f}"


def text_bar(size: int, whole: int, width: int = 30, ascii_only: bool = False) -> str:
    """`size` out of `whole` as a bar of `width` cells: block characters in eighths of a
    cell, or `#` a cell where the output cannot encode them. A size above 0 shows at least
    its smallest mark, so a small layer is not mistaken for an empty one."""
    if whole <= 0 or size <= 0:
        return ""
    eighths = max(1, round(min(size, whole) * width * 8 / whole))
    if ascii_only:
        return "#" * max(1, round(eighths / 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def share(size: int, whole: int, width: int = 30, ascii_only: bool = False) -> str:
    """A bar of `size` out of `whole`, padded to `width`, then its percentage."""
    if whole <= 0:
        return ""
    percent = size * 100 / whole
    figure = "<1 %" if 0 < percent < 0.5 else f"{round(percent)} %"
    return f"{text_bar(size, whole, width, ascii_only):<{width}} {figure:>5}"
