"""`nox -s lint`: each check catches a bad example and passes a good one.

hadolint, shellcheck, actionlint, ruff, mypy, prek and buildx are the real tools, as the lint
session runs them (from the lint venv, uv.lock's versions).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks import bakefile, dockerfile
from tasks.lint import CHECKS, HOOKS, allowlist, files, hadolint_config, layers, secrets, tools
from tasks.tests.support import FIXTURES, PROJECT, clean_env, git, make_stack, run_tasks, write

BAD = FIXTURES / "lint"
# The workflows written with the lint checks; others in the folder are checked by `nox -s lint`.
OUR_WORKFLOWS = [
    f".github/workflows/{name}.yaml"
    for name in ("nightly", "beta-label", "beta-merge", "beta-promote", "release")
]


def layer_findings(text: str) -> list[tuple[int, str]]:
    return layers.check(dockerfile.parse(text))


# --- reading Dockerfiles ---------------------------------------------------------------


def test_parser_joins_continuations_and_drops_comments_between_them() -> None:
    text = "FROM x\n\n# a comment\nRUN apt-get update && \\\n"
    text += "    # why curl\n    apt-get install curl\n"
    instructions = dockerfile.parse(text)
    assert [(i.line, i.keyword) for i in instructions] == [(1, "FROM"), (4, "RUN")]
    assert "why curl" not in instructions[1].arguments
    assert "apt-get update" in instructions[1].arguments
    assert "apt-get install curl" in instructions[1].arguments


def test_parser_reads_heredocs_and_goes_on_after_them() -> None:
    text = "FROM x\nRUN <<EOT bash\nset -e\npip install a\nEOT\nUSER 1000\n"
    run, user = dockerfile.parse(text)[1:]
    assert run.heredocs == ("set -e\npip install a",)
    assert "pip install a" in run.script
    assert (user.line, user.keyword) == (6, "USER")


def test_parser_reads_flags_escape_directive_and_exec_form() -> None:
    text = "# escape=`\nFROM x\nRUN --mount=type=cache,target=/root/.cache/pip `\n  pip install a\n"
    text += 'RUN ["/bin/sh", "-c", "conda install b"]\n'
    run, exec_form = dockerfile.parse(text)[1:]
    assert run.flag_values("mount") == ["type=cache,target=/root/.cache/pip"]
    assert run.arguments == "pip install a"
    assert "conda install b" in exec_form.script


def test_parser_takes_flag_values_without_their_quotes_as_buildkit_does() -> None:
    copy = dockerfile.parse('FROM x\nCOPY --chown="${NB_UID}:${NB_GID}" a /b\n')[1]
    assert copy.flag_values("chown") == ["${NB_UID}:${NB_GID}"]
    assert copy.arguments == "a /b"


# --- our own layer check ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("fix-permissions.Dockerfile", 7, "owner/permissions of ${CONDA_DIR}"),
        ("chown-after-copy.Dockerfile", 6, "/opt/app, filled at line 4"),
        ("apt-lists.Dockerfile", 4, "apt lists"),
        ("conda-cache.Dockerfile", 3, "conda package cache"),
        ("pip-cache.Dockerfile", 3, "pip cache"),
    ],
)
def test_layer_check_catches_each_bad_example(name: str, line: int, words: str) -> None:
    findings = layers.check_file(BAD / name, name)
    assert [(f.line, words in f.message) for f in findings] == [(line, True)]
    assert str(findings[0]).startswith(f"{name}:{line}: ")


def test_layer_check_passes_the_good_example() -> None:
    assert layers.check_file(BAD / "good.Dockerfile", "good.Dockerfile") == []


def test_permission_change_in_the_layer_that_made_the_files_is_fine() -> None:
    text = "FROM x\nCOPY --chown=1000:100 app/ /opt/app/\n"
    text += "RUN mkdir -p /srv/data && chown -R 1000:100 /srv/data\n"
    assert layer_findings(text) == []


def test_user_changes_do_not_hide_a_standalone_recursive_chmod() -> None:
    text = "FROM x\nUSER root\nRUN chmod -R g+w /opt/conda\nUSER 1000\n"
    assert [line for line, _ in layer_findings(text)] == [3]


@pytest.mark.parametrize(
    "run",
    [
        "RUN find /opt/big -exec chown 1000 {} +",
        "RUN cd /opt && chown -R 1000 big",
    ],
)
def test_other_spellings_of_a_recursive_permission_change(run: str) -> None:
    text = f"FROM x\nCOPY big /opt/big\n{run}\n"
    assert [line for line, _ in layer_findings(text)] == [3]


def test_a_conda_clean_that_keeps_the_packages_is_not_a_clean() -> None:
    kept = "FROM x\nRUN conda install a && conda clean --index-cache\n"
    assert [m.split()[0] for _, m in layer_findings(kept)] == ["conda"]
    for flags in ("-afy", "--all --yes", "--packages --tarballs -y"):
        cleaned = f"FROM x\nRUN conda install a && conda clean {flags}\n"
        assert layer_findings(cleaned) == [], flags


def test_non_recursive_chmod_of_one_file_is_not_the_size_trap() -> None:
    assert layer_findings("FROM x\nCOPY start.sh /usr/local/bin/\nRUN chmod +x /x.sh\n") == []


def test_env_path_is_traced_to_the_run_that_filled_it() -> None:
    text = "FROM x\nENV R_LIBS=/opt/r\nRUN Rscript -e 'x' && cp -r /tmp/lib /opt/r/\n"
    text += "RUN set -e; chown --recursive 1000 ${R_LIBS}\n"
    [(line, message)] = layer_findings(text)
    assert line == 4
    assert "filled at line 3" in message


def test_a_new_stage_forgets_the_previous_stage() -> None:
    text = "FROM x AS build\nENV PIP_NO_CACHE_DIR=1\nFROM y\nRUN pip install a\n"
    assert [line for line, _ in layer_findings(text)] == [4]


def test_caches_kept_out_by_flags_settings_or_mounts_are_fine() -> None:
    text = (
        "FROM x\n"
        "RUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install a\n"
        "RUN --mount=type=cache,target=/opt/conda/pkgs conda install b\n"
        "RUN PIP_NO_CACHE_DIR=1 pip install c && python3 -m pip install --no-cache-dir d\n"
        "ENV PIP_NO_CACHE_DIR=1\n"
        "RUN pip3 install e\n"
    )
    assert layer_findings(text) == []


def test_every_kind_of_cache_in_one_layer_is_reported_once_each() -> None:
    text = "FROM x\nRUN apt-get install -y a && micromamba install b && pip install c\n"
    messages = [message for _, message in layer_findings(text)]
    assert len(messages) == 3
    assert [m.split()[0] for m in messages] == ["apt", "conda", "pip"]


def test_a_cleaning_script_copied_from_the_context_counts_as_cleaning(tmp_path: Path) -> None:
    write(tmp_path, "scripts/clean-layer.sh", "#!/bin/bash\nrm -rf /var/lib/apt/lists/*\n")
    write(tmp_path, "scripts/say-hello.sh", "#!/bin/bash\necho hello\n")
    dockerfile_path = write(
        tmp_path,
        "Dockerfile",
        "FROM x\nCOPY scripts/ /usr/local/bin/\n"
        "RUN apt-get update && apt-get install -y a && clean-layer.sh\n"
        "RUN apt-get update && apt-get install -y b && say-hello.sh\n",
    )
    findings = layers.check_file(dockerfile_path, "Dockerfile")
    assert [(f.line, f.message.split()[0]) for f in findings] == [(4, "apt")]


# --- which files the checks look at ----------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "name", "shell"),
    [
        ("#!/command/with-contenv bash", "run", "bash"),
        ("#!/usr/bin/with-contenv bash", "01-copy-home", "bash"),
        ("#!/bin/bash", "start-custom", ""),
        ("#!/usr/bin/env sh", "finish", ""),
        ("echo no shebang", "script.sh", ""),
        ("#!/command/execlineb -P", "run", None),
        ("#!/usr/bin/env python3", "tool", None),
        ("#!/bin/bash", "notes.txt", None),
    ],
)
def test_shell_scripts_are_found_by_suffix_or_shebang(
    tmp_path: Path, first_line: str, name: str, shell: str | None
) -> None:
    path = write(tmp_path, name, first_line + "\n")
    assert files.shell_of(path) == shell


def test_walk_skips_tool_folders_and_the_bad_examples(tmp_path: Path) -> None:
    for relative in (".nox/lint/Dockerfile", "tasks/tests/fixtures/lint/Dockerfile"):
        write(tmp_path, relative)
    kept = write(tmp_path, "images/base/Dockerfile")
    assert files.walk(tmp_path) == [kept]


@pytest.mark.parametrize(
    ("relative", "workflow"),
    [
        (".github/workflows/nightly.yaml", True),
        (".github/workflows/old.yml", True),
        (".github/workflows/notes.md", False),
        (".github/workflows/sub/nested.yaml", False),  # GitHub reads no subfolder
        (".github/actions/setup/action.yaml", False),
        ("docs/.github/workflows/copy.yaml", False),
    ],
)
def test_workflows_are_yaml_right_in_the_workflows_folder(relative: str, workflow: bool) -> None:
    assert files.is_workflow(Path(relative)) is workflow


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


def test_the_hooks_are_the_checks() -> None:
    """Every check has its hook in the runner's hooks file, by the id --only maps it to."""
    import yaml

    config = yaml.safe_load((PROJECT / "tasks/lint/hooks.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing to fetch
    assert list(hooks) == [HOOKS[name] for name in CHECKS]
    assert [hooks[HOOKS[name]]["name"] for name in CHECKS] == list(CHECKS)
    assert {hook["language"] for hook in hooks.values()} == {"system"}


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


def test_hadolint_config_must_say_why_a_rule_is_ignored(tmp_path: Path) -> None:
    write(
        tmp_path,
        ".hadolint.yaml",
        "ignored:\n  # apt versions vanish from the archive\n  - DL3008\n"
        "  - DL3013  # pip: versions pinned in a constraints file\n  - DL3003\n",
    )
    assert [(f.line, f.message) for f in hadolint_config.check(tmp_path)] == [
        (5, "ignores DL3003 without a comment saying why")
    ]
    write(tmp_path, ".hadolint.yaml", "ignored: [DL3008]\n")
    assert [f.line for f in hadolint_config.check(tmp_path)] == [1]


def test_an_inline_hadolint_ignore_must_say_why(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Dockerfile",
        "FROM x\n# apt point versions vanish from the archive\n# hadolint ignore=DL3008\n"
        "RUN a\n# hadolint ignore=DL3003,DL3008\nRUN b\n"
        "# hadolint ignore=DL3003  # cd in a subshell only\nRUN c\n",
    )
    findings = hadolint_config.check_pragmas(path, "Dockerfile")
    assert [(f.line, f.message) for f in findings] == [
        (5, "ignores DL3003,DL3008 without a comment saying why")
    ]


def test_the_repository_hadolint_config_is_valid() -> None:
    assert hadolint_config.check(PROJECT) == []


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
    tags = repo / "tasks/tags.py"
    tags.write_text(tags.read_text() + '\n\ndef typo() -> int:\n    return "one"\n')
    line = tags.read_text().splitlines().index('    return "one"') + 1
    failed = run_tasks(repo, "lint", "--only", "mypy")
    assert failed.returncode == 1 and hook_failed(failed.stderr, "mypy")
    assert f"tasks/tags.py:{line}: error: Incompatible return value type" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_the_scan_allowlist_needs_a_reason_one_entry_per_id_and_real_dates(
    tmp_path: Path,
) -> None:
    write(tmp_path, allowlist.ALLOWLIST, (BAD / "bad-allowlist.yaml").read_text())
    findings = allowlist.check(tmp_path)
    assert {(f.path, f.check) for f in findings} == {(allowlist.ALLOWLIST, "scan allowlist")}
    assert [(f.line, f.message) for f in findings] == [
        (3, "CVE-2024-0001 has no `statement`: say why it is acceptable"),
        (6, "`expired_at` must be a date, YYYY-MM-DD, unquoted"),
        (7, "CVE-2024-0002 is listed already at line 4: one entry per id"),
        (11, "`expired_at` must be a date, YYYY-MM-DD, unquoted"),
        (14, "unknown key 'expires_at': Trivy reads expired_at, id, paths, purls, statement"),
    ]


def test_the_scan_allowlist_passes_a_good_one_and_the_repository_one(tmp_path: Path) -> None:
    write(tmp_path, allowlist.ALLOWLIST, (BAD / "good-allowlist.yaml").read_text())
    assert allowlist.check(tmp_path) == []
    assert (PROJECT / allowlist.ALLOWLIST).is_file()
    assert allowlist.check(PROJECT) == []
    assert allowlist.check(tmp_path / "nowhere") == []  # no allowlist: nothing to check


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("- id: CVE-2024-0001\n", 1, "expected a mapping"),
        ("# nothing yet\n", 1, "expected a mapping"),
        ("misconfigurations: []\n", 1, "no `vulnerabilities:` list"),
        ("vulnerabilities:\n  id: CVE-2024-0001\n", 2, "must be a list"),
        ("vulnerabilities:\n  - CVE-2024-0001\n", 2, "each entry must be a mapping"),
        ("vulnerabilities:\n  - statement: why\n", 2, "entry without an `id`"),
        ("vulnerabilities:\n  - id: CVE-1\n    statement: ''\n", 2, "has no `statement`"),
        ("vulnerabilities: [\n  - id: x\n", 2, "not valid YAML"),
    ],
)
def test_the_scan_allowlist_says_what_is_wrong_with_its_shape(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    write(tmp_path, allowlist.ALLOWLIST, text)
    [finding] = allowlist.check(tmp_path)
    assert finding.line == line
    assert words in finding.message


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


def test_build_levels_match_the_plans_outputs(tmp_path: Path) -> None:
    from tasks.lint import build_levels

    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})  # four levels
    assert build_levels.check(PROJECT, graph, 6) == []
    workflow = (PROJECT / build_levels.WORKFLOW).read_text()
    # A level's job gone, another reading the wrong level: both said, with the job's line.
    broken = (
        workflow.replace("  build-4:", "  build-four:")
        .replace(
            "matrix: ${{ needs.plan.outputs.level3 }}", "matrix: ${{ needs.plan.outputs.level2 }}"
        )
        .replace("needs: [plan, build-4]", "needs: [plan, build-1]")
    )
    write(tmp_path, build_levels.WORKFLOW, broken)
    messages = {f.message for f in build_levels.check(tmp_path, graph, 6)}
    assert messages == {
        "no job build-4: the stage graph (docker-bake.hcl) has 4 levels and level 4 is never "
        "built; add a job build-4 (needs: build-3, matrix: ${{ needs.plan.outputs.level4 }})",
        "build-3 does not build needs.plan.outputs.level3",
        "build-5 must need build-4",
    }
    line = workflow.splitlines().index("  build-3:") + 1
    assert any(f.line == line for f in build_levels.check(tmp_path, graph, 6))


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


def test_helpers_env_and_files_come_from_the_parent_image() -> None:
    parent = layers.walk(
        dockerfile.parse(BAD.joinpath("stack/images/base/Dockerfile").read_text()),
        STACK / "images/base",
        None,
        "images/base/Dockerfile",
    )[1]
    assert set(parent.helpers) == {"clean-layer.sh"}
    assert parent.env == {"HOME_TMP": "/tmp_home/jovyan"}
    child = "ARG BASE_IMAGE\nFROM $BASE_IMAGE\nRUN chmod -R 755 /usr/bin\n"
    [(line, message)] = layers.check(dockerfile.parse(child), None, parent)
    assert line == 3 and "filled at images/base/Dockerfile:4" in message  # its COPY
    # The parent's ENV is known: ${HOME_TMP} is the folder this RUN makes, nothing filled it.
    home = "FROM $BASE_IMAGE\nRUN mkdir -p /tmp_home/jovyan && chmod -R g=u ${HOME_TMP}\n"
    assert layers.check(dockerfile.parse(home), None, parent) == []
    assert len(layers.check(dockerfile.parse(home), None, None)) == 1  # unknown without it
    # An outside image, not the parent: nothing of the parent is in it.
    other = "FROM debian:bookworm-slim\nRUN apt-get update && clean-layer.sh\n"
    assert [m.split()[0] for _, m in layers.check(dockerfile.parse(other), None, parent)] == ["apt"]


@pytest.mark.parametrize(
    ("line", "cleared"),
    [(3, True), (4, True), (5, True), (6, True), (7, False)],
)
def test_removing_the_home_cache_clears_the_pip_cache(line: int, cleared: bool) -> None:
    findings = layers.check_file(BAD / "home-cache.Dockerfile", "home-cache.Dockerfile")
    assert (line in [f.line for f in findings]) is not cleared


@pytest.mark.parametrize(
    ("run", "flagged"),
    [
        # Earlier layers filled the folder: the -R change copies them, whatever else the RUN does.
        ('install -d -m 2775 "${HOME_TMP}/.cache" && chmod -R g=u "${HOME_TMP}"', True),
        ('cp -p -r -T "${HOME}" "${HOME_TMP}" && chmod -R g=u "${HOME_TMP}"', True),
        ("mkdir -p /opt/app/logs && chown -R 1000:100 /opt/app", True),
        ('install -d /srv/x && fix-permissions "${HOME_TMP}"', True),
        # Only what the RUN made itself: fine.
        ("mkdir -p /srv/data && cp -r /tmp/seed /srv/data/ && chown -R 1000:100 /srv/data", False),
        ("install -d -m 0775 /srv/new && chmod -R g=u /srv/new", False),
        ("mkdir -p /srv/b && cp -t /srv/b /tmp/x && chown -R 1000 /srv/b", False),
        # A folder from the base image, with an installer in the RUN: what it touches is unknown.
        ("pip install --no-cache-dir dash==2.18.2 && fix-permissions /opt/conda", False),
    ],
)
def test_a_recursive_permission_change_beside_file_commands(run: str, flagged: bool) -> None:
    text = "FROM x\nENV HOME_TMP=/tmp_home/jovyan\nCOPY app/ /opt/app/\n"
    text += "COPY --chown=1000:100 a.json ${HOME_TMP}/.config/a.json\n"
    text += f"RUN {run}\n"
    findings = layer_findings(text)
    assert ([line for line, _ in findings] == [5]) is flagged, findings
    assert all("owner/permissions" in message for _, message in findings)


def test_a_recursive_change_of_a_folder_made_elsewhere_is_a_copy_even_without_a_trace() -> None:
    [(line, message)] = layer_findings(
        "FROM x\nRUN mkdir -p /home/a/.cache && chmod -R g=u /home/a\n"
    )
    assert line == 2 and "/home/a, made earlier" in message


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("SRC_ACCOUNT_KEY", True),
        ("GITHUB_TOKEN", True),
        ("db_password", True),
        ("AUTH", True),
        ("ACCOUNT_NAME", False),
        ("GPG_KEY_FINGERPRINT", False),
        ("QUARTO_CHECKSUM_URL", False),
        ("PUBLIC_KEY_PATH", False),
        ("VSCODE_SHA", False),
        ("KEYBOARD_LAYOUT", False),  # a word, not a part of one
    ],
)
def test_a_credential_is_told_by_the_words_of_its_name(name: str, secret: bool) -> None:
    assert secrets.is_secret_name(name) is secret


def test_credentials_in_arg_or_env_are_found_and_public_facts_are_not() -> None:
    findings = secrets.check_dockerfile(BAD / "secret-arg.Dockerfile", "secret-arg.Dockerfile")
    assert [(f.line, f.message.split(" looks")[0]) for f in findings] == [
        (4, "ARG SRC_ACCOUNT_KEY"),
        (9, "ENV GITHUB_TOKEN"),
        (10, "ENV DB_PASSWORD"),  # the legacy `ENV NAME value` form
    ]
    assert all("RUN --mount=type=secret" in f.message for f in findings)
    assert all("nox -s bake -- --secret id=" in f.message for f in findings)


def test_a_workflow_passing_secrets_into_build_args_is_found(tmp_path: Path) -> None:
    workflow = write(
        tmp_path, ".github/workflows/build.yaml", (BAD / "secret-build-arg.yaml").read_text()
    )
    findings = secrets.check_workflow(workflow, "build.yaml")
    assert [(f.line, f.message.split(":")[0]) for f in findings] == [
        (14, "secret SAS_SA_KEY is passed to the build as build arg SRC_ACCOUNT_KEY"),
        (15, "secret SAS_STORAGE_KEY is passed to the build as build arg KEY"),
        (16, "secret SAS_STORAGE_KEY is passed to the build as build arg STORAGE_KEY"),
        (22, "secret BOT_TOKEN is passed to the build as build arg TOKEN"),
    ]
    assert all("--secret id=" in f.message for f in findings)


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


def test_a_folder_an_earlier_run_only_made_holds_nothing_to_copy() -> None:
    text = "FROM x\nRUN mkdir -p /tmp_home/a && chmod 2775 /tmp_home/a\n"
    text += 'RUN cp -p -r -T "$HOME" /tmp_home/a && chmod -R g=u /tmp_home/a\n'
    assert layer_findings(text) == []
    filled = text.replace("RUN cp", "COPY a.json /tmp_home/a/.config/\nRUN cp")
    assert [line for line, _ in layer_findings(filled)] == [4]


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


def test_our_checks_read_no_dockerfile_over_the_limit(tmp_path: Path) -> None:
    """The hooks run by prek directly get the same bound: one finding, read no further."""
    path = write(tmp_path, "Dockerfile", "FROM x\n" + "#" * files.MAX_DOCKERFILE)
    (finding,) = layers.check_file(path, "Dockerfile")
    assert finding.message.startswith("cannot read: too large to check: 262,151 bytes")
    path.write_text("FROM x\n" + "#" * (files.MAX_DOCKERFILE - 8))  # at the limit
    assert layers.check_file(path, "Dockerfile") == []
