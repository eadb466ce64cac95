"""The commands as a user starts them: the help, what plan loads, old spellings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tasks import cli
from tasks.tests.support import PROJECT, clean_env, run_tasks

DEPRECATED = "--tag on plan is deprecated: use --extra-tag"


def stages_tags(output: str) -> list[list[str]]:
    return [[ref.rsplit(":", 1)[1] for ref in s["tags"]] for s in json.loads(output)["stages"]]


def test_top_level_help_lists_every_command(stack: Path) -> None:
    result = run_tasks(stack, "--help", env=clean_env(COLUMNS="1000"))  # one line each
    assert result.returncode == 0, result.stderr
    listed = " ".join(result.stdout.split())
    for name, command in cli.COMMANDS.items():
        assert f"{name} {command.help}" in listed


def test_plan_json_loads_neither_the_docker_sdk_nor_requests(stack: Path, tmp_path: Path) -> None:
    report = tmp_path / "modules.json"
    script = textwrap.dedent(
        """
        import json, runpy, sys
        report = sys.argv[1]
        sys.argv = ["tasks", "plan", "--json"]
        try:
            runpy.run_module("tasks", run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code
        with open(report, "w") as handle:
            json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(report)],
        cwd=stack,
        env={**clean_env(), "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(report.read_text())
    assert loaded["code"] == 0, result.stderr
    heavy = [m for m in loaded["modules"] if m.split(".")[0] in ("docker", "requests", "urllib3")]
    assert heavy == []
    commands = [m for m in loaded["modules"] if m.startswith("tasks.commands.")]
    assert commands == ["tasks.commands.options", "tasks.commands.plan"]
    assert json.loads(result.stdout)["stages"]  # and the plan was made


def test_old_tag_spelling_still_works_with_one_note(stack: Path) -> None:
    old = run_tasks(stack, "plan", "--json", "--tag", "one", "--tag", "two")
    new = run_tasks(stack, "plan", "--json", "--extra-tag", "one", "--extra-tag", "two")
    assert old.returncode == 0 and new.returncode == 0, old.stderr + new.stderr
    assert old.stderr.count("deprecated") == 1, old.stderr
    assert DEPRECATED in " ".join(old.stderr.split())
    assert "deprecated" not in new.stderr
    assert stages_tags(old.stdout) == stages_tags(new.stdout)
    assert all(tags[-2:] == ["one", "two"] for tags in stages_tags(new.stdout))


def test_test_dev_and_push_keep_tag_as_the_image_to_use(stack: Path) -> None:
    for command in ("test", "dev", "push"):
        result = run_tasks(stack, command, "sas", "--tag", "a/b")
        assert "error: --tag 'a/b' is not a valid image tag" in result.stderr
        assert "deprecated" not in result.stderr
        assert "--extra-tag" not in run_tasks(stack, command, "--help").stdout
