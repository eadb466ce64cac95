"""Byte counts that may be unknown: a layer's compressed size is known only where a
registry's manifest gives it, and a sum of sizes is only as known as every part of it."""

from __future__ import annotations

from collections.abc import Iterable


def total(sizes: Iterable[int | None]) -> int | None:
    """The sum of the sizes; None when one of them is unknown."""
    known = list(sizes)
    return None if None in known else sum(size or 0 for size in known)


def size(count: float | None, places: int = 2) -> str:
    """Bytes in decimal units, as registries and `docker images` count them."""
    if count is None:
        return "unknown"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count / scale:.{places}f} {unit}"
    return f"{count:.0f} B"
