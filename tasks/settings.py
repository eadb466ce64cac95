"""Settings from one place: pyproject.toml [tool.zone], then ZONE_* environment variables.

Command-line flags win over both; the CLI applies them with `dataclasses.replace`. Every
value is checked here, where it is read: a setting that could only fail later (or wait
for years) is one error naming the setting and where it was set.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from tasks import references
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
    # cosign keys (paths, relative to the root): the private one signs what push pushes,
    # the public one is what verify and reuse trust. Neither: keyless in GitHub Actions.
    signing_key: str = ""
    verify_key: str = ""
    # Reuse and retag take only images whose signature verifies. Off: a warning a reuse.
    verify_reuse: bool = True
    # The branches whose CI runs push and sign (docker.yaml's `on.push.branches`): keyless
    # signatures are trusted only from the signing workflow on these (tasks/signing.py).
    # Empty: the release branch alone.
    publish_branches: tuple[str, ...] = ()
    # A repository that calls the runner's build-stage.yaml by reference (OWNER/NAME of the
    # runner's repository): its jobs sign as that workflow at the tag called, so keyless
    # signatures are trusted from it at tags matching runner-tags (`*`: tag characters),
    # run in this repository. Empty: this repository's own build-stage.yaml.
    runner_repository: str = ""
    runner_tags: str = "v*"
    # `cost`: the most compressed bytes an image may add for a node that holds the
    # release, by stage name; DEFAULT for the others. None: no budget.
    pull_budget: tuple[tuple[str, int | None], ...] = ()
    # `pins`: the services it asks, and the seconds one request may take in all.
    pypi_url: str = "https://pypi.org/simple"
    anaconda_api_url: str = "https://api.anaconda.org"
    openvsx_url: str = "https://open-vsx.org"
    pins_timeout: float = 20.0

    def check_stages(self, stages: Collection[str]) -> None:
        """Settings that name stages name stages of the bake file (a misspelt name in
        pull-budget would silently give that image no budget)."""
        unknown = [name for name, _ in self.pull_budget if name != DEFAULT_BUDGET]
        unknown = [name for name in unknown if name not in stages]
        if unknown:
            raise ZoneError(
                f"setting [tool.zone] pull-budget names {', '.join(map(repr, unknown))}, "
                f"no image of {self.bake_file}",
                hint=f"its images: {', '.join(stages)}; `{DEFAULT_BUDGET}` is every other one's",
            )

    def budget(self, stage: str) -> int | None:
        """The pull budget of `stage` in bytes; None when it has none."""
        budgets = dict(self.pull_budget)
        return budgets.get(stage, budgets.get(DEFAULT_BUDGET))

    @property
    def signing_branches(self) -> tuple[str, ...]:
        """The branches whose workflow signatures are trusted."""
        return self.publish_branches or (self.release_branch,)

    @property
    def bake_path(self) -> Path:
        return self.root / self.bake_file

    @property
    def bake_folder(self) -> str:
        """The bake file's folder relative to the project root ('' when it is the root):
        contexts are relative to it, changed paths to the root."""
        folder = self.bake_path.parent
        return folder.relative_to(self.root).as_posix() if folder != self.root else ""


# pyproject key -> (field, environment variable)
_KEYS = {
    "bake-file": ("bake_file", "ZONE_BAKE_FILE"),
    "registry": ("registry", "ZONE_REGISTRY"),
    "release-branch": ("release_branch", "ZONE_RELEASE_BRANCH"),
    "version-tag": ("version_tag", "ZONE_VERSION_TAG"),
    "base-image": ("base_image", "ZONE_BASE_IMAGE"),
    "push-attempts": ("push_attempts", "ZONE_PUSH_ATTEMPTS"),
    "push-backoff": ("push_backoff", "ZONE_PUSH_BACKOFF"),
    "signing-key": ("signing_key", "ZONE_SIGNING_KEY"),
    "verify-key": ("verify_key", "ZONE_VERIFY_KEY"),
    "verify-reuse": ("verify_reuse", "ZONE_VERIFY_REUSE"),
    "publish-branches": ("publish_branches", "ZONE_PUBLISH_BRANCHES"),
    "runner-repository": ("runner_repository", "ZONE_RUNNER_REPOSITORY"),
    "runner-tags": ("runner_tags", "ZONE_RUNNER_TAGS"),
    "pull-budget": ("pull_budget", "ZONE_PULL_BUDGET"),
    "pypi-url": ("pypi_url", "ZONE_PYPI_URL"),
    "anaconda-api-url": ("anaconda_api_url", "ZONE_ANACONDA_API_URL"),
    "openvsx-url": ("openvsx_url", "ZONE_OPENVSX_URL"),
    "pins-timeout": ("pins_timeout", "ZONE_PINS_TIMEOUT"),
}
BOOLEANS = {"verify_reuse"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
DEFAULT_BUDGET = "default"  # the pull-budget key for every stage not named there
NO_BUDGET = "none"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*", re.I)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# Numeric settings: type and bounds. 10 tries starting at 60 s already wait 8.5 hours at
# most; more tries, or longer waits, only postpone a failure that is not passing.
BOUNDS: dict[str, tuple[type, float, float]] = {
    "push_attempts": (int, 1, 10),
    "push_backoff": (float, 0, 60),
    "pins_timeout": (float, 1, 600),
}
_NUMBER_HINTS = {
    "push_attempts": "push-attempts is tries per tag (1-10)",
    "push_backoff": "push-backoff is the seconds before the second try (0-60, doubling "
    "after each try)",
    "pins_timeout": "pins-timeout is the seconds one request of `nox -s pins` may take in "
    "all (1-600)",
}
_URLS = {"pypi_url", "anaconda_api_url", "openvsx_url"}
_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")
_BRANCH = re.compile(r"[^\s~^:?*\[\\]+")  # what `git check-ref-format --branch` allows, roughly
GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")  # owner/name
RUNNER_TAGS = re.compile(r"[A-Za-z0-9_.*-]+")  # a tag, `*` for any run of tag characters


def _valid_text(field: str, value: str) -> tuple[str, str] | None:
    """What is wrong with a text setting's value, and an example; None when it is usable."""
    if field == "version_tag" and not references.TAG.fullmatch(value):
        return f"must be a valid image tag ({references.TAG_RULE})", "e.g. v2"
    if field == "release_branch" and not _BRANCH.fullmatch(value):
        return "must be a branch name (not empty, no spaces)", "e.g. master"
    if field == "registry" and not references.REPO.fullmatch(value):
        return "must be a registry/namespace prefix", "e.g. localhost:5000/team (lowercase names)"
    if field == "base_image" and value and not _base_images(value):
        return (
            "must be an image reference",
            "e.g. quay.io/jupyter/scipy-notebook:TAG, or ROOT=IMAGE pairs separated by commas "
            "(base=quay.io/jupyter/scipy-notebook:TAG)",
        )
    if field in _URLS and not _URL.fullmatch(value):
        return "must be an http(s) URL", "e.g. https://pypi.org/simple"
    if field == "runner_repository" and value and not GITHUB_REPOSITORY.fullmatch(value):
        return "must be a GitHub repository, OWNER/NAME", "e.g. StatCan/zone-kubeflow-containers"
    if field == "runner_tags" and not RUNNER_TAGS.fullmatch(value):
        return "must be a tag pattern (letters, digits, . _ - and *)", "e.g. v*"
    if field == "bake_file" and not value.strip():
        return "must name a file", "e.g. docker-bake.hcl"
    return None


def _base_images(value: str) -> bool:
    """IMAGE, or ROOT=IMAGE[,ROOT=IMAGE...] (which roots exist, the bake file says)."""
    if "=" not in value:
        return references.is_image(value)
    pairs = [item.partition("=") for item in value.split(",")]
    return all(
        root.strip() and sep and references.is_image(image.strip()) for root, sep, image in pairs
    )


def check_base_image(value: str, where: str) -> None:
    """--base-image is checked by the rule its setting follows."""
    _check_text("base_image", value, where)


def _check_text(field: str, value: str, where: str) -> None:
    problem = _valid_text(field, value)
    if problem:
        raise ZoneError(f"{where} {problem[0]}, not {value!r}", hint=problem[1])


def load(root: Path) -> Settings:
    values: dict[str, object] = {}
    where: dict[str, str] = {}  # field -> where its value was set, for messages
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = _read(pyproject)
        for key, value in _zone_table(pyproject, text).items():
            if key not in _KEYS:
                known = ", ".join(_KEYS)
                raise ZoneError(
                    f"{pyproject}{_line(text, key)}: unknown setting [tool.zone] {key!r}; "
                    f"known: {known}"
                )
            field = _KEYS[key][0]
            values[field] = value
            where[field] = f"{pyproject}{_line(text, key)}: setting [tool.zone] {key}"
    for field, env in _KEYS.values():
        if os.environ.get(env) and field != "pull_budget":
            values[field] = os.environ[env]
            where[field] = f"environment variable {env}"
    budgets = pull_budgets(values.pop("pull_budget", {}), where.get("pull_budget", ""))
    if os.environ.get("ZONE_PULL_BUDGET"):  # the default only: named stages keep theirs
        budgets[DEFAULT_BUDGET] = parse_size(
            os.environ["ZONE_PULL_BUDGET"], "environment variable ZONE_PULL_BUDGET"
        )
    checked: dict[str, Any] = {
        field: _checked(field, value, where[field]) for field, value in values.items()
    }
    if budgets:
        checked["pull_budget"] = tuple(budgets.items())
    return Settings(root=root, **checked)


def _read(pyproject: Path) -> str:
    try:
        return pyproject.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ZoneError(f"{pyproject}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ZoneError(f"cannot read {pyproject}: {exc.strerror}") from None


def _zone_table(pyproject: Path, text: str) -> dict[str, object]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ZoneError(f"{pyproject}: not valid TOML ({exc})") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ZoneError(f"{pyproject}{_line(text, 'tool')}: `tool` must be a table ([tool])")
    zone = tool.get("zone", {})
    if not isinstance(zone, dict):
        raise ZoneError(
            f"{pyproject}{_line(text, 'zone')}: `tool.zone` must be a table ([tool.zone])"
        )
    return zone


def _line(text: str, key: str) -> str:
    """':N' for the line that sets `key` (first match), '' when it cannot be found."""
    match = re.search(rf"""^[ \t]*(tool\.)?["']?{re.escape(key)}["']?[ \t]*[=.]""", text, re.M)
    return f":{text.count(chr(10), 0, match.start()) + 1}" if match else ""


def _checked(field: str, value: object, where: str) -> object:
    if field in BOUNDS:
        return _number(field, value, where)
    if field in BOOLEANS:
        return _boolean(value, where)
    if field == "publish_branches":
        return _branches(value, where)
    if not isinstance(value, str):
        raise ZoneError(f"{where} must be a string, not {value!r}")
    _check_text(field, value, where)
    return value


def _branches(value: object, where: str) -> tuple[str, ...]:
    """A list of branch names; from the environment, separated by commas or spaces."""
    names = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ZoneError(
            f"{where} must be a list of branch names, not {value!r}", hint='e.g. ["master", "beta"]'
        )
    for name in names:
        _check_text("release_branch", name, where)
    return tuple(dict.fromkeys(names))


def _boolean(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ZoneError(f"{where} must be true or false, not {value!r}")


def _number(field: str, value: object, where: str) -> int | float:
    kind, smallest, largest = BOUNDS[field]
    parse: Callable[[object], int | float] = kind
    number: int | float | None = None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            number = parse(value)
        except (ValueError, OverflowError):
            number = None
        if kind is int and isinstance(value, float):
            number = None  # 4.5 tries
    if number is None or not math.isfinite(number) or not smallest <= number <= largest:
        raise ZoneError(
            f"{where} must be a{'n integer' if kind is int else ' number'} from "
            f"{smallest:g} to {largest:g}, not {value!r}",
            hint=_NUMBER_HINTS[field],
        )
    return number


def parse_size(value: object, where: str) -> int | None:
    """Bytes from "1.5 GB", "800MiB" or 1500000000 (decimal units, as registries and
    `docker images` count); None for "none" (no budget)."""
    if isinstance(value, str) and value.strip().lower() == NO_BUDGET:
        return None
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if match is None:
        raise ZoneError(
            f"{where} must be a size, not {value!r}",
            hint='e.g. "1.5 GB", "800 MB", "2 GiB", or "none" for no budget',
        )
    return round(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def pull_budgets(value: object, where: str) -> dict[str, int | None]:
    """pull-budget: one size (every stage's), or a table of stage = size (and default)."""
    if value == {}:
        return {}
    if not isinstance(value, dict):
        return {DEFAULT_BUDGET: parse_size(value, where)}
    return {str(stage): parse_size(size, f"{where}.{stage}") for stage, size in value.items()}


def from_pyproject(root: Path, key: str) -> object:
    """The value pyproject.toml (committed with the project) gives [tool.zone] `key`,
    without the environment's; None when it sets none."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    return _zone_table(pyproject, _read(pyproject)).get(key)
