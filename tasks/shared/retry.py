"""Registry operations that may fail for a moment: bounded tries with backoff, and which
failures are worth another try."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from tasks.console import FAILURE, ZoneError, warn

T = TypeVar("T")

# The registry said no to who we are: another try cannot help, a login can.
_REFUSED = re.compile(
    r"unauthori[sz]ed|authentication required|no basic auth credentials|denied|forbidden", re.I
)
# Wrong input, not a bad moment.
_PERMANENT = re.compile(
    r"does not exist locally|no such image|invalid reference|manifest invalid|name invalid"
    r"|not a valid repository",
    re.I,
)


class Transient(Exception):
    """A failure that may pass: the registry is down, slow or answered 5xx."""


class Exhausted(ZoneError):
    """Every try failed with a Transient error: the registry stayed down."""

    def __init__(self, message: str, attempts: int, last: str) -> None:
        super().__init__(message, exit_code=FAILURE)
        self.attempts = attempts
        self.last = last


def classify(message: str, registry: str) -> Exception:
    """The error to raise for a registry's failure message: Transient unless it cannot pass."""
    if _REFUSED.search(message):
        return ZoneError(
            f"the registry {registry} refused access: {message}",
            hint=f"log in first: docker login {registry} (in GitHub Actions: docker/login-action)",
            exit_code=FAILURE,
        )
    if _PERMANENT.search(message):
        return ZoneError(message, exit_code=FAILURE)
    return Transient(message)


def with_retries(action: Callable[[], T], what: str, attempts: int, backoff: float) -> T:
    """action(), tried up to `attempts` times while it raises Transient, waiting `backoff`
    seconds after the first failure and twice as long after each next one."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Transient as exc:
            if attempt == attempts:
                tries = "try" if attempts == 1 else f"{attempts} tries"
                raise Exhausted(f"{what} failed after {tries}: {exc}", attempts, str(exc)) from None
            delay = backoff * 2 ** (attempt - 1)
            warn(f"{what} failed ({exc}); try {attempt + 1} of {attempts} in {delay:g}s")
            time.sleep(delay)
    raise AssertionError("unreachable: attempts >= 1")
