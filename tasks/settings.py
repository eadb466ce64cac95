"""Settings from one place: pyproject.toml [tool.zone], then ZONE_* environment variables.

Command-line flags win over both; the CLI applies them with `dataclasses.replace`. Every
value is checked here, where it is read: a setting that could only fail later (or wait
for years) is one error naming the setting and where it was set.

Each setting is declared once, as a field of Settings: `name: type = field(default=...,
metadata=about("what it is", ...))`. Its [tool.zone] key is the name with "-" for "_", its
variable ZONE_NAME; `rule=` checks a text, `bounds=` a number (int or float as the
default is), a bool default takes true/false, `parse=` anything else; `flag=` names the
flag that overrides it (added where a command calls `options.setting_flag(parser, KEY)`).
`nox -s docs` then rewrites the README's table of settings (tasks/readme.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Callable, Collection
from dataclasses import field
from pathlib import Path
from typing import Any, NamedTuple

from tasks import references
from tasks.console import ZoneError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
DEFAULT_BUDGET = "default"  # the pull-budget key for every stage not named there
NO_BUDGET = "none"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*", re.I)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")
_BRANCH = re.compile(r"[^\s~^:?*\[\\]+")  # what `git check-ref-format --branch` allows, roughly


class Rule(NamedTuple):
    """What a usable text value is: a test, what a bad value must be, and an example."""

    test: Callable[[str], object]
    problem: str
    example: str


def _base_images(value: str) -> bool:
    """IMAGE, or ROOT=IMAGE[,ROOT=IMAGE...] (which roots exist, the bake file says)."""
    if "=" not in value:
        return references.is_image(value)
    pairs = [item.partition("=") for item in value.split(",")]
    return all(
        root.strip() and sep and references.is_image(image.strip()) for root, sep, image in pairs
    )


GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")  # owner/name
RUNNER_TAGS = re.compile(r"[A-Za-z0-9_.*-]+")  # a tag, `*` for any run of tag characters
BRANCH = Rule(_BRANCH.fullmatch, "must be a branch name (not empty, no spaces)", "e.g. master")
URL = Rule(_URL.fullmatch, "must be an http(s) URL", "e.g. https://pypi.org/simple")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting, declared once as a field of Settings (`metadata=about(...)`): its
    [tool.zone] key, ZONE_* variable, flag, check, default and help all come from there."""

    help: str  # what it is: the flag's help and the README's table
    flag: str = ""  # the command-line flag that overrides it, if any
    rule: Rule | None = None  # text: what a usable value is
    bounds: tuple[float, float] | None = None  # numbers: smallest and largest
    hint: str = ""  # numbers: the hint of a bad value (default: "KEY is HELP (LOW-HIGH)")
    parse: Callable[[object, str], object] | None = None  # other kinds: (value, where) -> value
    unset: str = ""  # README: what the empty default means
    env_note: str = ""  # README: what the variable takes, when not just the value
    # Filled from the field by SETTINGS, never declared:
    field: str = ""
    default: Any = None

    @property
    def key(self) -> str:
        return self.field.replace("_", "-")

    @property
    def env(self) -> str:
        return "ZONE_" + self.field.upper()

    @property
    def dest(self) -> str:
        """The attribute argparse gives the flag's value."""
        return self.flag.removeprefix("--").replace("-", "_")


def about(
    help: str,
    *,
    flag: str = "",
    rule: Rule | None = None,
    bounds: tuple[float, float] | None = None,
    hint: str = "",
    parse: Callable[[object, str], object] | None = None,
    unset: str = "",
    env_note: str = "",
) -> dict[str, Setting]:
    """A field's metadata that declares it a setting (see Setting)."""
    declared = Setting(
        help,
        flag=flag,
        rule=rule,
        bounds=bounds,
        hint=hint,
        parse=parse,
        unset=unset,
        env_note=env_note,
    )
    return {"setting": declared}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting, one field each: the default and `about` are the whole declaration."""

    root: Path
    bake_file: str = field(
        default="docker-bake.hcl",
        metadata=about(
            "the bake file, relative to the project root",
            rule=Rule(str.strip, "must name a file", "e.g. docker-bake.hcl"),
        ),
    )
    registry: str = field(
        default="k8scc01covidacr.azurecr.io",
        metadata=about(
            "registry/namespace prefix of image names",
            flag="--repo",
            rule=Rule(
                references.REPO.fullmatch,
                "must be a registry/namespace prefix",
                "e.g. localhost:5000/team (lowercase names)",
            ),
        ),
    )
    release_branch: str = field(
        default="master",
        metadata=about(
            "the branch whose builds also get the version tag and `latest`", rule=BRANCH
        ),
    )
    version_tag: str = field(
        default="v2",
        metadata=about(
            "the version tag of the release branch's builds",
            rule=Rule(
                references.TAG.fullmatch,
                f"must be a valid image tag ({references.TAG_RULE})",
                "e.g. v2",
            ),
        ),
    )
    # Empty: the upstream image pinned in the bake file (its one and only place).
    base_image: str = field(
        default="",
        metadata=about(
            "another upstream image for the roots built on that image (any tag), or "
            "ROOT=IMAGE[,ROOT=IMAGE] for the roots named",
            flag="--base-image",
            rule=Rule(
                lambda value: not value or _base_images(value),
                "must be an image reference",
                "e.g. quay.io/jupyter/scipy-notebook:TAG, or ROOT=IMAGE pairs separated by "
                "commas (base=quay.io/jupyter/scipy-notebook:TAG)",
            ),
            unset="the bake file's `UPSTREAM_IMAGE`",
        ),
    )
    # Pushes and registry-side retags: tries per tag, and the first wait between them
    # (doubled after each failed try). 10 tries starting at 60 s already wait 8.5 hours at
    # most; more tries, or longer waits, only postpone a failure that is not passing.
    push_attempts: int = field(default=4, metadata=about("tries per tag", bounds=(1, 10)))
    push_backoff: float = field(
        default=2.0,
        metadata=about(
            "the seconds before the second try, doubling after each try",
            bounds=(0, 60),
            hint="push-backoff is the seconds before the second try (0-60, doubling "
            "after each try)",
        ),
    )
    # cosign keys (paths, relative to the root): the private one signs what push pushes,
    # the public one is what verify and reuse trust. Neither: keyless in GitHub Actions.
    signing_key: str = field(
        default="",
        metadata=about(
            "the cosign private key push signs with: a file relative to the root, or `env://VAR`",
            unset="none: keyless in GitHub Actions",
        ),
    )
    verify_key: str = field(
        default="",
        metadata=about(
            "the cosign public key verify, reuse and retag trust",
            unset="none: build-stage.yaml on `publish-branches` in GitHub Actions",
        ),
    )
    verify_reuse: bool = field(
        default=True,
        metadata=about(
            "reuse and retag take only images whose signature verifies (off: a warning instead)"
        ),
    )
    # Keyless signatures are trusted only from the signing workflow on these branches
    # (tasks/signing.py).
    publish_branches: tuple[str, ...] = field(
        default=(),
        metadata=about(
            "the branches whose CI runs push and sign (docker.yaml's `on.push.branches`)",
            parse=lambda value, where: _branches(value, where),
            unset="the release branch",
            env_note="commas or spaces",
        ),
    )
    # A repository that calls the runner's build-stage.yaml by reference: its jobs sign as
    # that workflow at the tag called, so keyless signatures are trusted from it at tags
    # matching runner-tags, run in this repository (tasks/signing.py).
    runner_repository: str = field(
        default="",
        metadata=about(
            "the runner's GitHub repository (OWNER/NAME) whose build-stage.yaml this "
            "repository calls by reference",
            rule=Rule(
                lambda value: not value or GITHUB_REPOSITORY.fullmatch(value),
                "must be a GitHub repository, OWNER/NAME",
                "e.g. StatCan/zone-kubeflow-containers",
            ),
            unset="none: this repository's own build-stage.yaml",
        ),
    )
    runner_tags: str = field(
        default="v*",
        metadata=about(
            "the tags of runner-repository whose build-stage.yaml signatures are trusted "
            "(`*`: any run of tag characters)",
            rule=Rule(
                RUNNER_TAGS.fullmatch,
                "must be a tag pattern (letters, digits, . _ - and *)",
                "e.g. v*",
            ),
        ),
    )
    # None: no budget.
    pull_budget: tuple[tuple[str, int | None], ...] = field(
        default=(),
        metadata=about(
            "`cost`: the most compressed bytes an image may add for a node that holds the "
            "release, one size or a table by image (below)",
            parse=lambda value, where: tuple(pull_budgets(value, where).items()),
            unset="none (`cost` applies no budget)",
            env_note="the default",
        ),
    )
    pypi_url: str = field(
        default="https://pypi.org/simple",
        metadata=about("the Python package index `pins` asks", rule=URL),
    )
    anaconda_api_url: str = field(
        default="https://api.anaconda.org",
        metadata=about("the anaconda.org API `pins` asks for conda packages", rule=URL),
    )
    openvsx_url: str = field(
        default="https://open-vsx.org",
        metadata=about("the VS Code extension registry `pins` asks", rule=URL),
    )
    pins_timeout: float = field(
        default=20.0,
        metadata=about("the seconds one request of `nox -s pins` may take in all", bounds=(1, 600)),
    )
    # The build-level jobs of .github/workflows/docker.yaml (build-1 ... build-N): the plan
    # writes level1 ... levelN for them, and lint checks the workflow has them.
    ci_levels: int = field(
        default=6,
        metadata=about(
            "the `build-N` jobs of `.github/workflows/docker.yaml`: the plan writes `level1` "
            "... `levelN`",
            bounds=(1, 50),
            hint="ci-levels is the number of build-N jobs of .github/workflows/docker.yaml (1-50)",
        ),
    )

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


# [tool.zone] key -> its declaration, in the order of the fields.
SETTINGS = {
    setting.key: setting
    for setting in (
        dataclasses.replace(f.metadata["setting"], field=f.name, default=f.default)
        for f in dataclasses.fields(Settings)
        if "setting" in f.metadata
    )
}
FLAGS = tuple(setting for setting in SETTINGS.values() if setting.flag)


def checked(setting: Setting, value: object, where: str) -> Any:
    """The value, checked by its setting's declaration; `where` says where it was set."""
    if setting.parse:
        return setting.parse(value, where)
    if setting.bounds:
        return _number(setting, value, where)
    if isinstance(setting.default, bool):
        return _boolean(value, where)
    if not isinstance(value, str):
        raise ZoneError(f"{where} must be a string, not {value!r}")
    _check_text(setting.rule, value, where)
    return value


def _check_text(rule: Rule | None, value: str, where: str) -> None:
    if rule and not rule.test(value):
        raise ZoneError(f"{where} {rule.problem}, not {value!r}", hint=rule.example)


def load(root: Path) -> Settings:
    values: dict[str, object] = {}
    where: dict[str, str] = {}  # key -> where its value was set, for messages
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        text = _read(pyproject)
        for key, value in _zone_table(pyproject, text).items():
            if key not in SETTINGS:
                known = ", ".join(SETTINGS)
                raise ZoneError(
                    f"{pyproject}{_line(text, key)}: unknown setting [tool.zone] {key!r}; "
                    f"known: {known}"
                )
            values[key] = value
            where[key] = f"{pyproject}{_line(text, key)}: setting [tool.zone] {key}"
    for key, setting in SETTINGS.items():
        if os.environ.get(setting.env) and key != "pull-budget":
            values[key] = os.environ[setting.env]
            where[key] = f"environment variable {setting.env}"
    fields: dict[str, Any] = {
        SETTINGS[key].field: checked(SETTINGS[key], value, where[key])
        for key, value in values.items()
    }
    if os.environ.get("ZONE_PULL_BUDGET"):  # the default only: named stages keep theirs
        budgets = dict(fields.get("pull_budget", ()))
        budgets[DEFAULT_BUDGET] = parse_size(
            os.environ["ZONE_PULL_BUDGET"], "environment variable ZONE_PULL_BUDGET"
        )
        fields["pull_budget"] = tuple(budgets.items())
    return Settings(root=root, **fields)


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


def _branches(value: object, where: str) -> tuple[str, ...]:
    """A list of branch names; from the environment, separated by commas or spaces."""
    names = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ZoneError(
            f"{where} must be a list of branch names, not {value!r}", hint='e.g. ["master", "beta"]'
        )
    for name in names:
        _check_text(BRANCH, name, where)
    return tuple(dict.fromkeys(names))


def _boolean(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ZoneError(f"{where} must be true or false, not {value!r}")


def _number(setting: Setting, value: object, where: str) -> int | float:
    assert setting.bounds is not None
    smallest, largest = setting.bounds
    kind = type(setting.default)  # int or float
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
            hint=setting.hint or f"{setting.key} is {setting.help} ({smallest:g}-{largest:g})",
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
