"""Each setting is declared once (a field of Settings with `about(...)`): its key, ZONE_*
variable, flag, check, default and help come from there, and the README's table too."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from tasks import cli, readme
from tasks.commands import options
from tasks.console import ZoneError
from tasks.settings import FLAGS, SETTINGS, Settings, checked, load
from tasks.tests.support import PROJECT, write


def test_every_field_but_the_root_is_a_declared_setting() -> None:
    fields = [f.name for f in dataclasses.fields(Settings)]
    assert fields[0] == "root"
    assert [setting.field for setting in SETTINGS.values()] == fields[1:]


def test_every_setting_has_a_key_an_environment_variable_and_help() -> None:
    for key, setting in SETTINGS.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", key), key
        assert setting.env == "ZONE_" + key.upper().replace("-", "_")
        assert setting.help.strip() and setting.help == setting.help.strip(), key
        # an empty default needs words saying what it means (the README shows them)
        assert setting.default not in ("", ()) or setting.unset, key


def test_names_variables_and_flags_are_unique() -> None:
    envs = [setting.env for setting in SETTINGS.values()]
    flags = [setting.flag for setting in FLAGS]
    assert len(set(envs)) == len(envs) == len(SETTINGS)
    assert len(set(flags)) == len(flags)
    assert all(flag.startswith("--") for flag in flags)


def test_flags_are_those_of_today() -> None:
    assert {s.key: s.flag for s in FLAGS} == {"registry": "--repo", "base-image": "--base-image"}


@pytest.mark.parametrize("key", list(SETTINGS))
def test_each_default_passes_its_own_check(key: str) -> None:
    setting = SETTINGS[key]
    if setting.parse:  # lists and tables: their defaults are empty, meaning "not set"
        assert setting.default == ()
        return
    assert checked(setting, setting.default, key) == setting.default
    if setting.bounds:
        assert type(setting.default) in (int, float)
        assert setting.bounds[0] <= setting.default <= setting.bounds[1]


def test_a_number_out_of_bounds_says_its_bounds_and_meaning() -> None:
    with pytest.raises(ZoneError) as raised:
        checked(SETTINGS["pins-timeout"], "0", "environment variable ZONE_PINS_TIMEOUT")
    assert raised.value.message == (
        "environment variable ZONE_PINS_TIMEOUT must be a number from 1 to 600, not '0'"
    )
    assert raised.value.hint == (
        "pins-timeout is the seconds one request of `nox -s pins` may take in all (1-600)"
    )


@pytest.mark.parametrize("key", list(SETTINGS))
def test_each_environment_variable_is_read(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The declared variable reaches load: a value its check refuses is refused, naming
    the variable; one it takes (a key file may be named anything) is the setting's value."""
    setting = SETTINGS[key]
    monkeypatch.setenv(setting.env, "not valid: spaces and ~^:")
    try:
        value = getattr(load(tmp_path), setting.field)
    except ZoneError as refused:
        assert refused.message.startswith(f"environment variable {setting.env} must be ")
    else:
        assert value == "not valid: spaces and ~^:"
        assert setting.rule is None or key == "bake-file"


def test_unknown_key_lists_every_declared_one(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.zone]\nregistri = "x"\n')
    with pytest.raises(ZoneError) as raised:
        load(tmp_path)
    assert raised.value.message.endswith("known: " + ", ".join(SETTINGS))


def test_a_flag_is_declared_and_applied_from_the_setting() -> None:
    parser = argparse.ArgumentParser()
    options.setting_flag(parser, "base-image")
    options.setting_flag(parser, "registry")
    shown = " ".join(parser.format_help().split())  # argparse wraps the help
    assert f"--base-image BASE_IMAGE {SETTINGS['base-image'].help}" in shown
    assert f"--repo REPO {SETTINGS['registry'].help}" in shown
    args = parser.parse_args(["--repo", "localhost:5000/team", "--base-image", "debian:12"])
    settings = cli.with_flags(Settings(root=PROJECT), args)
    assert (settings.registry, settings.base_image) == ("localhost:5000/team", "debian:12")
    bad = parser.parse_args(["--repo", "Zone"])
    with pytest.raises(ZoneError) as raised:
        cli.with_flags(Settings(root=PROJECT), bad)
    assert raised.value.message == "--repo must be a registry/namespace prefix, not 'Zone'"


def test_the_readme_table_is_the_declarations() -> None:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert readme.PARTS[0].begin in text and readme.PARTS[0].end in text
    assert readme.stale(PROJECT) is None, "run `nox -s docs`"
    rows = readme.settings_table().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [f"| `{key}`" for key in SETTINGS]
    assert all(f"`{s.env}`" in row for s, row in zip(SETTINGS.values(), rows, strict=True))


def test_docs_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    body = f"# X\n\nbefore\n{readme.PARTS[0].begin}\n| old |\n{readme.PARTS[0].end}\nafter\n"
    path = write(tmp_path, "README.md", body)
    assert readme.stale(tmp_path) is not None
    assert readme.write(tmp_path) == path
    text = path.read_text()
    assert text.startswith(f"# X\n\nbefore\n{readme.PARTS[0].begin}\n| setting |")
    last = readme.settings_table().splitlines()[-1]
    assert text.endswith(f"{last}\n{readme.PARTS[0].end}\nafter\n")
    assert readme.stale(tmp_path) is None


def test_a_readme_without_markers_is_left_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "README.md", "# Another project\n")
    assert readme.write(tmp_path) is None
    assert readme.stale(tmp_path) is None
    assert path.read_text() == "# Another project\n"
