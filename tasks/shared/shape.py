"""The shape of an answer from outside (an index's JSON, a registry's manifest, a cache
entry): every field is checked for its type where it is read, and one that is not what
it should be is a Malformed naming the field, never a TypeError three calls later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")
_REQUIRED: Any = object()
# JSON's names for what json.loads makes, as the people who read the answer know them.
_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}
_NAMES |= {float: "a number", bool: "true or false", type(None): "null"}


class Malformed(ValueError):
    """An answer not of the shape expected: the message says which field and why."""


def of(value: object, expected: type[T], what: str) -> T:
    """`value` when it is an `expected` (True is no integer here); else Malformed."""
    if isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool):
        return value
    raise Malformed(f"{what} is {name_of(value)}, not {_NAMES.get(expected, expected.__name__)}")


def field(
    document: Mapping[str, object], key: str, expected: type[T], what: str, default: T = _REQUIRED
) -> T:
    """document[key], of type `expected`; `default` when it is absent or null (Malformed
    when there is no default)."""
    value = document.get(key)
    if value is None:
        if default is _REQUIRED:
            raise Malformed(f"{what} has no {key!r}")
        return default
    return of(value, expected, f"{what}'s {key!r}")


def items(value: object, expected: type[T], what: str) -> list[T]:
    """`value` as an array whose every item is an `expected`."""
    return [of(item, expected, f"{what}[{i}]") for i, item in enumerate(of(value, list, what))]


def name_of(value: object) -> str:
    return _NAMES.get(type(value), type(value).__name__)
