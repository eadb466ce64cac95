"""Byte counts that may be unknown: a layer's compressed size is known only where a
registry's manifest gives it, and a sum of sizes is only as known as every part of it."""

from __future__ import annotations

from collections.abc import Iterable


def total(sizes: Iterable[int | None]) -> int | None:
    """The sum of the sizes; None when one of them is unknown."""
    known = list(sizes)
    return None if None in known else sum(size or 0 for size in known)
