"""`nox -s lint`: each check catches a bad example and passes a good one.

hadolint, shellcheck, actionlint, ruff, mypy, prek and buildx are the real tools, as the lint
session runs them (from the lint venv, uv.lock's versions).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks.lint import allowlist, tools
from tasks.tests.support import FIXTURES, PROJECT, clean_env, git, make_stack, run_tasks, write

BAD = FIXTURES / "lint"
# The workflows written with the lint checks; others in the folder are checked by `nox -s lint`.
OUR_WORKFLOWS = [
    f".github/workflows/{name}.yaml"
    for name in ("nightly", "beta-label", "beta-merge", "beta-promote", "release")
]


# --- the outside tools -----------------------------------------------------------------


def lint_repo(path: Path, pyproject: str = "[tool.zone]\n") -> Path:
    """A git repository with no hooks of its own (the runner's apply), for `python -m
    tasks lint` in it."""
    write(path, "pyproject.toml", pyproject)
    git(path, "init", "-q")
    return path


def hook_failed(output: str, check: str) -> bool:
    """prek marks a hook that found something: `NAME......Failed`."""
    return re.search(rf"^{re.escape(check)}\.+Failed$", output, re.MULTILINE) is not None


def test_ruff_reports_unformatted_and_failing_python(tmp_path: Path) -> None:
    repo = lint_repo(tmp_path, '[tool.ruff.lint]\nselect = ["F"]\n')
    write(repo, "good.py", 'print("ok")\n')
    ruff = ("--only", "ruff format", "--only", "ruff check")
    clean = run_tasks(repo, "lint", *ruff)
    assert clean.returncode == 0, clean.stderr
    write(repo, "bad.py", "import os\nx = {  'a':1 }\n")
    failed = run_tasks(repo, "lint", *ruff)
    assert failed.returncode == 1
    output = failed.stderr
    assert hook_failed(output, "ruff format") and hook_failed(output, "ruff check")
    assert "bad.py:2:1: unformatted" in output
    assert "bad.py:1:8: F401" in output
    assert "good.py" not in output


def test_hadolint_fails_on_warnings_and_errors(tmp_path: Path) -> None:
    repo = lint_repo(tmp_path)
    shutil.copy(BAD / "hadolint-bad.Dockerfile", repo / "Dockerfile")
    failed = run_tasks(repo, "lint", "--only", "hadolint")
    assert failed.returncode == 1 and hook_failed(failed.stderr, "hadolint")
    for line, code in ((2, "DL4000"), (3, "DL3003"), (3, "DL3008")):
        assert f"Dockerfile:{line} {code}" in failed.stderr


def test_hadolint_passes_the_good_example(tmp_path: Path) -> None:
    repo = lint_repo(tmp_path)
    shutil.copy(BAD / "good.Dockerfile", repo / "Dockerfile")
    result = run_tasks(repo, "lint", "--only", "hadolint")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^hadolint\.+Passed$", result.stderr, re.MULTILINE)


def test_shellcheck_catches_the_bad_scripts(tmp_path: Path) -> None:
    repo = lint_repo(tmp_path)
    for name in ("bad-script.sh", "s6-bad-run"):
        shutil.copy(BAD / name, repo / name)
    failed = run_tasks(repo, "lint", "--only", "shellcheck")
    assert failed.returncode == 1 and hook_failed(failed.stderr, "shellcheck")
    for place in ("bad-script.sh:4:", "bad-script.sh:5:", "s6-bad-run:3:"):
        assert place in failed.stderr
    assert "SC2086" in failed.stderr


def test_shellcheck_passes_good_scripts_and_with_contenv_needs_the_shell_named(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    repo = lint_repo(tmp_path)
    for name in ("good-script.sh", "s6-good-run"):
        shutil.copy(BAD / name, repo / name)
    clean = run_tasks(repo, "lint", "--only", "shellcheck")
    assert clean.returncode == 0, clean.stderr
    # Without --shell, shellcheck refuses the with-contenv shebang: why we name the shell.
    assert tools.shellcheck(repo, {"s6-good-run": ""}) != 0
    assert "SC1008" in capfd.readouterr().out


def test_actionlint_catches_a_bad_workflow_and_its_scripts_through_shellcheck(
    tmp_path: Path,
) -> None:
    repo = lint_repo(tmp_path)
    write(repo, ".github/workflows/bad.yaml", (BAD / "bad-workflow.yaml").read_text())
    # No shellcheck on PATH: the lint must still hand actionlint the venv's one.
    failed = run_tasks(repo, "lint", "--only", "actionlint", env=clean_env(PATH="/usr/bin:/bin"))
    assert failed.returncode == 1 and hook_failed(failed.stderr, "actionlint")
    places = re.findall(r"^\s*(\S+?):(\d+):\d+: .*\[([\w-]+)\]$", failed.stderr, re.MULTILINE)
    assert {(path, int(line), kind) for path, line, kind in places} == {
        (".github/workflows/bad.yaml", 6, "job-needs"),
        (".github/workflows/bad.yaml", 8, "expression"),
        (".github/workflows/bad.yaml", 10, "shellcheck"),
    }
    assert "SC2086" in failed.stderr
    assert 'undefined variable "machine"' in failed.stderr


def test_actionlint_passes_the_repository_workflows() -> None:
    result = run_tasks(PROJECT, "lint", "--only", "actionlint", *OUR_WORKFLOWS)
    assert result.returncode == 0, result.stderr


def test_actionlint_has_nothing_to_do_without_workflows(tmp_path: Path) -> None:
    result = run_tasks(lint_repo(tmp_path), "lint", "--only", "actionlint")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^actionlint\.+\(no files to check\)Skipped$", result.stderr, re.M)


def test_a_type_error_fails_the_lint_at_its_file_and_line(tmp_path: Path) -> None:
    """mypy, as the lint runs it, on a copy of the runner with one wrong annotation."""
    repo = make_stack(tmp_path / "stack", with_runner=True)
    tags = repo / "tasks/planning/tags.py"
    tags.write_text(tags.read_text() + '\n\ndef typo() -> int:\n    return "one"\n')
    line = tags.read_text().splitlines().index('    return "one"') + 1
    failed = run_tasks(repo, "lint", "--only", "mypy")
    assert failed.returncode == 1 and hook_failed(failed.stderr, "mypy")
    assert f"tasks/planning/tags.py:{line}: error: Incompatible return value type" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_bake_print_failure_names_the_target_and_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "docker-bake.hcl",
        'target "ok" {\n  context = "."\n}\n\ntarget "orphan" {\n  inherits = ["missing"]\n}\n',
    )
    assert tools.bake_prints(tmp_path, "docker-bake.hcl", ["ok"]) == []
    [orphan] = tools.bake_prints(tmp_path, "docker-bake.hcl", ["ok", "orphan"])
    assert (orphan.path, orphan.line) == ("docker-bake.hcl", 5)  # the target's line
    assert "bake --print orphan failed" in orphan.message and "missing" in orphan.message


def test_bake_print_error_in_the_file_is_reported_once_at_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "docker-bake.hcl",
        'target "a" {\n  context = "."\n}\n\ntarget "b" {\n  context = "."\n'
        '  args = "not a map"\n}\n',
    )
    [finding] = tools.bake_prints(tmp_path, "docker-bake.hcl", ["a", "b"])
    assert finding.line == 7  # bake's own line for the bad value
    assert "--print a b failed" in finding.message and "map of string" in finding.message


# --- the whole session -----------------------------------------------------------------


def test_lint_passes_a_clean_stack_and_reports_every_check_that_fails(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    shutil.copy(PROJECT / ".hadolint.yaml", repo)
    assert run_tasks(repo, "docs").returncode == 0
    clean = run_tasks(repo, "lint")
    assert clean.returncode == 0, clean.stderr
    assert "lint: everything passes" in clean.stderr

    shutil.copy(BAD / "chown-after-copy.Dockerfile", repo / "images/mid/Dockerfile")
    shutil.copy(BAD / "s6-bad-run", repo / "images/mid/run")
    write(repo, "images/mid/helper.py", "import os\n")
    (repo / "docker-bake.hcl").write_text(
        (repo / "docker-bake.hcl").read_text().replace('"images/sas"', '"images/sas2"')
    )
    failed = run_tasks(repo, "lint")
    assert failed.returncode == 1
    output = failed.stderr
    assert "images/mid/Dockerfile:6: RUN only changes owner/permissions" in output
    assert "images/mid/Dockerfile:6: DL3002" not in output  # USER 1000 comes last
    assert re.search(r"images/mid/run:3:\d+: note: Double quote", output)
    assert "images/mid/helper.py:1:8: F401" in output
    assert "docs/stages.md:1: stale" in output and "nox -s docs" in output
    assert "Traceback" not in output
    for check in ("ruff check", "layers", "shellcheck", "docs"):
        assert hook_failed(output, check), check
    assert not hook_failed(output, "hadolint")
    assert "lint found problems" in output


def test_lint_reports_bad_workflows_and_a_bad_scan_allowlist(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    shutil.copy(PROJECT / ".hadolint.yaml", repo)
    assert run_tasks(repo, "docs").returncode == 0
    write(repo, ".github/workflows/bad.yml", (BAD / "bad-workflow.yaml").read_text())
    shutil.copy(PROJECT / ".github/workflows/release.yaml", repo / ".github/workflows")
    write(repo, allowlist.ALLOWLIST, (BAD / "bad-allowlist.yaml").read_text())
    failed = run_tasks(repo, "lint")
    assert failed.returncode == 1
    output = failed.stderr
    assert re.search(r"\.github/workflows/bad\.yml:10:\d+: shellcheck reported issue", output)
    assert ".github/workflows/release.yaml" not in output
    assert ".github/trivy-allowlist.yaml:3: CVE-2024-0001 has no `statement`" in output
    assert "2 workflows" in output
    assert "Traceback" not in output
    assert hook_failed(output, "actionlint") and hook_failed(output, "scan allowlist")


# --- along the stage graph, and what real Dockerfiles do ---------------------------------

STACK = BAD / "stack"


def _stack_layer_findings(root: Path) -> list[tuple[str, int, str]]:
    """(stage folder, line, message up to its first colon) of the layer check over a
    stack, as `nox -s lint -- --only layers PATH` reports them (a copy outside this
    repository: the lint's hooks exclude the bad examples under tasks/tests/fixtures/lint)."""
    result = run_tasks(PROJECT, "lint", "--only", "layers", str(root))
    assert "Traceback" not in result.stderr
    found = re.findall(r"^\s*\S+/images/(\w+)/Dockerfile:(\d+): ([^:]+)", result.stderr, re.M)
    return [(folder, int(line), message) for folder, line, message in found]


def test_a_cleanup_helper_of_the_parent_stage_counts_in_its_children(tmp_path: Path) -> None:
    """The fixture's bake file links child to base only through BASE_IMAGE = "base"."""
    shutil.copytree(STACK, tmp_path / "stack")
    found = _stack_layer_findings(tmp_path / "stack")
    assert found == [
        ("child", 8, "RUN changes owner/permissions of ${HOME_TMP}, filled at line 6"),
        ("loose", 3, "apt lists stay in this layer"),  # no stage builds it: no helper known
    ]


def test_the_parent_link_may_be_a_named_context_too(tmp_path: Path) -> None:
    shutil.copytree(STACK, tmp_path / "stack")
    bake = tmp_path / "stack/docker-bake.hcl"
    bake.write_text(
        bake.read_text().replace(
            'BASE_IMAGE = "base"',
            'BASE_IMAGE = "base"\n  }\n  contexts = {\n    base = "target:base"',
        )
    )
    found = _stack_layer_findings(tmp_path / "stack")
    assert [(folder, line) for folder, line, _ in found] == [("child", 8), ("loose", 3)]


def test_without_the_parent_stage_the_helper_is_unknown(tmp_path: Path) -> None:
    shutil.copytree(STACK, tmp_path / "stack")
    (tmp_path / "stack/docker-bake.hcl").unlink()
    found = _stack_layer_findings(tmp_path / "stack")
    assert [(folder, line) for folder, line, _ in found] == [
        ("child", 4),  # apt lists
        ("child", 5),  # conda
        ("child", 5),  # pip
        ("child", 8),
        ("loose", 3),
    ]


# --- pointing the lint at files, one check at a time -------------------------------------


def test_lint_paths_and_only_narrow_files_and_checks(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    write(repo, "other/images/x/Dockerfile", (BAD / "secret-arg.Dockerfile").read_text())
    write(repo, "other/.github/workflows/b.yaml", (BAD / "secret-build-arg.yaml").read_text())
    write(repo, "other/.github/actions/setup/action.yaml", "runs:\n  using: composite\n")
    git(repo / "other", "init", "-q")  # a clone of another repository inside this one
    write(repo, "images/mid/helper.py", "import os\n")  # outside the PATH: not looked at
    result = run_tasks(repo, "lint", "--only", "secrets", "other")
    assert result.returncode == 1, result.stderr
    output = result.stderr
    assert "other/images/x/Dockerfile:4: ARG SRC_ACCOUNT_KEY" in output
    assert "other/.github/workflows/b.yaml:14: secret SAS_SA_KEY" in output
    assert "helper.py" not in output and "F401" not in output
    assert "checks: secrets" in output and "1 workflows under other" in output
    assert hook_failed(output, "secrets")
    assert len(re.findall(r"^\s*other/\S+:\d+: ", output, re.MULTILINE)) == 7
    # Every file check, on a folder with nothing wrong: the repository checks are left out.
    clean = run_tasks(repo, "lint", "images/base")
    assert clean.returncode == 0, clean.stderr
    assert "checks: ruff format, ruff check, hadolint, hadolint ignores, layers, secrets" in (
        clean.stderr
    )
    assert "docs" not in clean.stderr.split("checks:", 1)[1].split("\n")[0]


def test_lint_refuses_an_unknown_check_and_a_missing_path(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    unknown = run_tasks(repo, "lint", "--only", "layers", "--only", "layer-sizes")
    assert unknown.returncode == 2
    assert "unknown check 'layer-sizes'" in unknown.stderr
    assert "known checks: ruff format, ruff check, hadolint" in unknown.stderr
    missing = run_tasks(repo, "lint", "nowhere/Dockerfile")
    assert missing.returncode == 2
    assert "no such file or folder: nowhere/Dockerfile" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


def test_hadolint_and_the_layer_check_both_report_a_pip_cache(tmp_path: Path) -> None:
    repo = lint_repo(tmp_path)
    shutil.copy(BAD / "pip-dl3042.Dockerfile", repo / "Dockerfile")
    both = run_tasks(repo, "lint", "--only", "hadolint", "--only", "layers", "Dockerfile")
    assert both.returncode == 1
    # hadolint says line 3; it misses the pip called by its full path (line 4): ours says both.
    assert re.findall(r"^\s*Dockerfile:(\d+) DL3042", both.stderr, re.MULTILINE) == ["3"]
    ours = re.findall(r"^\s*Dockerfile:(\d+): pip cache stays", both.stderr, re.MULTILINE)
    assert ours == ["3", "4"]


def test_a_16_mb_dockerfile_is_refused_by_its_size(tmp_path: Path) -> None:
    """hadolint and the layer check never finished on it: no check reads it, the lint
    fails saying its size, and the other files are checked as ever."""
    repo = lint_repo(tmp_path)
    good = (BAD / "good.Dockerfile").read_text()
    write(repo, "small/Dockerfile", good)
    big = write(repo, "big/Dockerfile", good + "RUN chmod -R 755 /opt/x\n" * (2**24 // 24))
    size = big.stat().st_size
    assert size > 16 * 10**6
    result = run_tasks(repo, "lint", "--only", "hadolint", "--only", "layers", "big", "small")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())
    assert f"big/Dockerfile:1: too large to check: {size:,} bytes, more than the 256 KiB" in said
    assert "error: lint could not check 1 Dockerfile(s): too large" in said
    assert re.search(r"^hadolint\.+Passed$", result.stderr, re.MULTILINE)  # the small one
