"""Settings from one place: pyproject.toml [tool.zone], then ZONE_* environment variables.

Command-line flags win over both; the CLI applies them with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from pathlib import Path

from tasks.console import ZoneError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@dataclasses.dataclass(frozen=True)
class Settings:
    root: Path
    bake_file: str = "docker-bake.hcl"
    registry: str = "k8scc01covidacr.azurecr.io"
    release_branch: str = "master"
    version_tag: str = "v2"
    # Empty: the upstream image pinned in the bake file (its one and only place).
    base_image: str = ""
    # Pushes and registry-side retags: tries per tag, and the first wait between them
    # (doubled after each failed try).
    push_attempts: int = 4
    push_backoff: float = 2.0

    @property
    def bake_path(self) -> Path:
        return self.root / self.bake_file


# pyproject key -> (field, environment variable)
_KEYS = {
    "bake-file": ("bake_file", "ZONE_BAKE_FILE"),
    "registry": ("registry", "ZONE_REGISTRY"),
    "release-branch": ("release_branch", "ZONE_RELEASE_BRANCH"),
    "version-tag": ("version_tag", "ZONE_VERSION_TAG"),
    "base-image": ("base_image", "ZONE_BASE_IMAGE"),
    "push-attempts": ("push_attempts", "ZONE_PUSH_ATTEMPTS"),
    "push-backoff": ("push_backoff", "ZONE_PUSH_BACKOFF"),
}
# Settings that are numbers, with the smallest value that makes sense.
_NUMBERS = {"push_attempts": (int, 1), "push_backoff": (float, 0)}


def load(root: Path) -> Settings:
    values: dict[str, str] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("zone", {})
        except tomllib.TOMLDecodeError as exc:
            raise ZoneError(f"{pyproject}: not valid TOML ({exc})") from None
        for key, value in table.items():
            if key not in _KEYS:
                known = ", ".join(_KEYS)
                raise ZoneError(f"{pyproject}: unknown setting [tool.zone] {key!r}; known: {known}")
            values[_KEYS[key][0]] = str(value)
    for field, env in _KEYS.values():
        if os.environ.get(env):
            values[field] = os.environ[env]
    numbers = _numbers(values)  # takes the numeric settings out of values
    return Settings(root=root, **values, **numbers)


def _numbers(values: dict[str, str]) -> dict[str, int | float]:
    numbers: dict[str, int | float] = {}
    for field, (kind, smallest) in _NUMBERS.items():
        if field not in values:
            continue
        text = values.pop(field)
        try:
            numbers[field] = kind(text)
        except ValueError:
            numbers[field] = smallest - 1  # reported below
        if not math.isfinite(numbers[field]) or numbers[field] < smallest:
            key = next(k for k, (f, _) in _KEYS.items() if f == field)
            raise ZoneError(
                f"setting {key} (or {_KEYS[key][1]}) must be a {kind.__name__} >= {smallest}, "
                f"not {text!r}"
            )
    return numbers
