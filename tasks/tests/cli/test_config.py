"""Bad configuration is refused when it is read: one message naming the setting (or the
file and line), exit 2, no traceback, and nothing on stdout or in GITHUB_OUTPUT.

Each case is a real repository (make_stack) with one bad setting or bake file, read
by `plan --json --github-output` as CI runs it: in this process, where what is tested is
the reading; a few cases go through `python -m tasks` for the exit path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.tests.cli.test_errors import assert_one_clear_error
from tasks.tests.support import clean_env, run_in_process, run_tasks, write


@dataclasses.dataclass(frozen=True)
class Case:
    setup: Callable[[Path], None]  # makes the repository bad
    message: str  # what the one error must say
    env: tuple[tuple[str, str], ...] = ()


def pyproject(*lines: str) -> Callable[[Path], None]:
    return lambda repo: write(repo, "pyproject.toml", "\n".join(lines) + "\n")


def zone(line: str) -> Callable[[Path], None]:
    return pyproject("[project]", 'name = "x"', 'version = "1"', "", "[tool.zone]", line)


def bake_file(text: str) -> Callable[[Path], None]:
    return lambda repo: write(repo, "docker-bake.hcl", text)


def appended(block: str) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        with (repo / "docker-bake.hcl").open("a") as handle:
            handle.write("\n" + block)

    return setup


def target(name: str, context: str) -> str:
    return f'target "{name}" {{\n  context = "{context}"\n}}\n'


def non_utf8(repo: Path) -> None:
    (repo / "pyproject.toml").write_bytes(b"[tool.zone]\nregistry = '\xff\xfe'\n")


def nothing(repo: Path) -> None:
    pass


# Line numbers: zone() puts its line at 6; appended blocks start after the stack's file.
BAD = {
    # numbers without an upper bound ended in OverflowError or waited for years
    "push-backoff 1e300": Case(zone("push-backoff = 1e300"), "pyproject.toml:6: setting"),
    "push-attempts 1026": Case(
        zone("push-attempts = 1026"), "push-attempts must be an integer from 1 to 10, not 1026"
    ),
    "push-attempts 30": Case(zone("push-attempts = 30"), "from 1 to 10, not 30"),
    "push-attempts 0": Case(zone("push-attempts = 0"), "from 1 to 10, not 0"),
    "push-attempts 4.5": Case(zone("push-attempts = 4.5"), "integer from 1 to 10, not 4.5"),
    "push-attempts text": Case(zone('push-attempts = "many"'), "not 'many'"),
    "push-attempts bool": Case(zone("push-attempts = true"), "not True"),
    "push-backoff -1": Case(
        zone("push-backoff = -1"), "push-backoff must be a number from 0 to 60"
    ),
    "push-backoff nan": Case(zone("push-backoff = nan"), "from 0 to 60, not nan"),
    "env attempts 1e3": Case(
        nothing,
        "environment variable ZONE_PUSH_ATTEMPTS must be an integer from 1 to 10",
        env=(("ZONE_PUSH_ATTEMPTS", "1e3"),),
    ),
    "env backoff inf": Case(
        nothing,
        "ZONE_PUSH_BACKOFF must be a number from 0 to 60, not 'inf'",
        env=(("ZONE_PUSH_BACKOFF", "inf"),),
    ),
    # a deadline of 0 s or less was a traceback (`nox -s pins`)
    "env pins-timeout 0": Case(
        nothing,
        "environment variable ZONE_PINS_TIMEOUT must be a number from 1 to 600, not '0'",
        env=(("ZONE_PINS_TIMEOUT", "0"),),
    ),
    "env pins-timeout -1": Case(
        nothing,
        "ZONE_PINS_TIMEOUT must be a number from 1 to 600, not '-1'",
        env=(("ZONE_PINS_TIMEOUT", "-1"),),
    ),
    "pins-timeout text": Case(zone('pins-timeout = "soon"'), "from 1 to 600, not 'soon'"),
    "ci-levels 0": Case(zone("ci-levels = 0"), "ci-levels must be an integer from 1 to 50, not 0"),
    "env ci-levels text": Case(
        nothing,
        "environment variable ZONE_CI_LEVELS must be an integer from 1 to 50, not 'seven'",
        env=(("ZONE_CI_LEVELS", "seven"),),
    ),
    "env pypi-url": Case(
        nothing,
        "ZONE_PYPI_URL must be an http(s) URL, not 'pypi.org/simple'",
        env=(("ZONE_PYPI_URL", "pypi.org/simple"),),
    ),
    "openvsx-url": Case(zone('openvsx-url = "ftp://x"'), "openvsx-url must be an http(s) URL"),
    # a budget for an image that does not exist applied to nothing, silently
    "pull-budget unknown image": Case(
        zone('pull-budget = { sas = "1 GB", sass = "1 B", default = "2 GB" }'),
        "pull-budget names 'sass', no image of docker-bake.hcl",
    ),
    # text settings that must be a tag, a branch, a reference
    "version-tag empty": Case(zone('version-tag = ""'), "version-tag must be a valid image tag"),
    "version-tag space": Case(zone('version-tag = "v 2"'), "valid image tag (up to 128 of"),
    "env version-tag": Case(
        nothing, "ZONE_VERSION_TAG must be a valid image tag", env=(("ZONE_VERSION_TAG", "-v2"),)
    ),
    "release-branch empty": Case(zone('release-branch = ""'), "release-branch must be a branch"),
    "release-branch space": Case(zone('release-branch = "my branch"'), "not 'my branch'"),
    "base-image not a reference": Case(
        zone('base-image = "not an image"'), "base-image must be an image reference"
    ),
    "base-image uppercase path": Case(
        zone('base-image = "quay.io/Jupyter/x:1"'), "not 'quay.io/Jupyter/x:1'"
    ),
    "env base-image": Case(
        nothing, "ZONE_BASE_IMAGE must be an image reference", env=(("ZONE_BASE_IMAGE", "a b"),)
    ),
    "registry uppercase": Case(zone('registry = "Example.org/Team"'), "registry/namespace prefix"),
    "registry not a string": Case(
        pyproject("[tool.zone]", "registry = 5"), "[tool.zone] registry must be a string, not 5"
    ),
    "bake-file empty": Case(zone('bake-file = " "'), "bake-file must name a file"),
    # the pyproject itself
    "tool not a table": Case(pyproject("tool = 5"), "pyproject.toml:1: `tool` must be a table"),
    "tool.zone not a table": Case(
        pyproject("[tool]", "zone = 'x'"), "pyproject.toml:2: `tool.zone` must be a table"
    ),
    "dotted tool.zone not a table": Case(pyproject("tool.zone = 1"), "`tool.zone` must be a table"),
    "pyproject not UTF-8": Case(non_utf8, "pyproject.toml: not UTF-8 text"),
    "unknown setting": Case(zone("registyr = 'x'"), "pyproject.toml:6: unknown setting"),
    # bake files that build nothing, or that bake would refuse later
    "empty bake file": Case(bake_file(""), "docker-bake.hcl: no targets to build"),
    "only variables": Case(
        bake_file('variable "X" {\n  default = "1"\n}\n'), "docker-bake.hcl: no targets to build"
    ),
    "target named empty": Case(
        appended(target("", "images/x")), "target name '' is not one bake accepts"
    ),
    "target name with a space": Case(
        appended(target("a b", "images/x")), "target name 'a b' is not one bake accepts"
    ),
    "target name with a dot": Case(appended(target("a.b", "images/x")), "'a.b' is not one bake"),
    "target name like a flag": Case(appended(target("-x", "images/x")), "'-x' is not one bake"),
    "target name uppercase": Case(
        appended(target("Extra", "images/x")), "target name 'Extra' cannot be an image name"
    ),
    "group name with a space": Case(
        appended('group "my group" {\n  targets = ["sas"]\n}\n'), "group name 'my group'"
    ),
    "bad upstream image": Case(
        nothing,
        "BASE_IMAGE 'no such:image' is not an image reference",
        env=(("UPSTREAM_IMAGE", "no such:image"),),
    ),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_configuration_is_one_error_at_load(
    stack: Path, tmp_path: Path, case: Case, monkeypatch, capsys
) -> None:
    case.setup(stack)
    output = tmp_path / "github_output"
    env = clean_env(GITHUB_OUTPUT=str(output), **dict(case.env))
    result = run_in_process(
        stack, "plan", "--json", "--github-output", env=env, monkeypatch=monkeypatch, capsys=capsys
    )
    assert_one_clear_error(result, case.message)
    assert not output.exists(), output.read_text()  # no half-written outputs for CI


def test_bake_file_line_is_named(stack: Path) -> None:
    lines = (stack / "docker-bake.hcl").read_text().count("\n")
    appended(target("a b", "images/x"))(stack)
    result = run_tasks(stack, "plan")
    assert_one_clear_error(result, f"docker-bake.hcl:{lines + 2}: target name 'a b'")


def test_bounds_at_the_edges_are_accepted(stack: Path) -> None:
    zone("push-attempts = 10\npush-backoff = 60\npins-timeout = 600")(stack)
    assert run_tasks(stack, "plan").returncode == 0
    env = clean_env(ZONE_PUSH_ATTEMPTS="1", ZONE_PUSH_BACKOFF="0", ZONE_PINS_TIMEOUT="1")
    assert run_tasks(stack, "plan", env=env).returncode == 0


# --- flags: --secret (bake) and --base-image ------------------------------------------

HIDDEN = "hunter2-5f3a"  # stands for a secret typed where a name was expected


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (HIDDEN, "--secret number 1 is not id=ID,env=VAR or id=ID,src=FILE"),
        (f"id=sas,env={HIDDEN}=x", "--secret number 1 is not"),
        (f"id={HIDDEN} x,env=A", "--secret number 1 is not"),
        ("id=sas", "--secret number 1 is not"),
        ("id=sas,env=A,src=/etc/hostname", "--secret number 1 is not"),
        ("id=sas,env=A,id=other", "--secret number 1 is not"),
        ("id=sas,type=file,env=A", "--secret number 1 is not"),
        ("env=A", "--secret number 1 is not"),
        ("id=sas,env=ZONE_TEST_UNSET", "the environment variable ZONE_TEST_UNSET is not set"),
        ("id=sas,env=ZONE_TEST_EMPTY", "ZONE_TEST_EMPTY is not set or is empty"),
        (f"id=sas,src=/nonexistent/{HIDDEN}", "--secret id=sas: its src is no file"),
    ],
)
def test_bad_secret_is_refused_and_never_echoed(
    stack: Path, secret: str, message: str, monkeypatch, capsys
) -> None:
    env = clean_env(ZONE_TEST_EMPTY="")
    argv = ("bake", "sas", "--print", "--secret", secret)
    result = run_in_process(stack, *argv, env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert_one_clear_error(result, message)
    assert HIDDEN not in result.stderr + result.stdout


def test_second_secret_is_named_by_its_place(stack: Path) -> None:
    env = clean_env(SAS_KEY="k")
    result = run_tasks(
        stack, "bake", "sas", "--print", "--secret", "id=a,env=SAS_KEY", "--secret", HIDDEN, env=env
    )
    assert_one_clear_error(result, "--secret number 2 is not")
    assert HIDDEN not in result.stderr


def test_good_secrets_pass(stack: Path, tmp_path: Path) -> None:
    key = write(tmp_path, "key", "k\n")
    env = clean_env(SAS_KEY="k")
    for secret in ("id=sas,env=SAS_KEY", f"id=sas,src={key}", f"type=file,id=sas,source={key}"):
        result = run_tasks(stack, "bake", "sas", "--print", "--secret", secret, env=env)
        assert result.returncode == 0, result.stderr


def test_bad_base_image_flag(stack: Path) -> None:
    result = run_tasks(stack, "bake", "sas", "--print", "--base-image", "a b")
    assert_one_clear_error(result, "--base-image must be an image reference, not 'a b'")
