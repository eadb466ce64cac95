"""The lint's checks called in-process on bad and good examples: the Dockerfile parser, the
layer-size check, secrets, the scan allowlist, hadolint's configuration, which files each
check reads. The real tools, run as the lint session runs them, are in cli/test_lint.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.lint import CHECKS, HOOKS, allowlist, files, hadolint_config, layers, secrets
from tasks.stack import bakefile, dockerfile
from tasks.tests.support import FIXTURES, PROJECT, write

BAD = FIXTURES / "lint"
STACK = BAD / "stack"


def layer_findings(text: str) -> list[tuple[int, str]]:
    return layers.check(dockerfile.parse(text))


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


def test_the_hooks_are_the_checks() -> None:
    """Every check has its hook in the runner's hooks file, by the id --only maps it to."""
    import yaml

    config = yaml.safe_load((PROJECT / "tasks/lint/hooks.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # nothing to fetch
    assert list(hooks) == [HOOKS[name] for name in CHECKS]
    assert [hooks[HOOKS[name]]["name"] for name in CHECKS] == list(CHECKS)
    assert {hook["language"] for hook in hooks.values()} == {"system"}


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


def test_a_folder_an_earlier_run_only_made_holds_nothing_to_copy() -> None:
    text = "FROM x\nRUN mkdir -p /tmp_home/a && chmod 2775 /tmp_home/a\n"
    text += 'RUN cp -p -r -T "$HOME" /tmp_home/a && chmod -R g=u /tmp_home/a\n'
    assert layer_findings(text) == []
    filled = text.replace("RUN cp", "COPY a.json /tmp_home/a/.config/\nRUN cp")
    assert [line for line, _ in layer_findings(filled)] == [4]


def test_our_checks_read_no_dockerfile_over_the_limit(tmp_path: Path) -> None:
    """The hooks run by prek directly get the same bound: one finding, read no further."""
    path = write(tmp_path, "Dockerfile", "FROM x\n" + "#" * files.MAX_DOCKERFILE)
    (finding,) = layers.check_file(path, "Dockerfile")
    assert finding.message.startswith("cannot read: too large to check: 262,151 bytes")
    path.write_text("FROM x\n" + "#" * (files.MAX_DOCKERFILE - 8))  # at the limit
    assert layers.check_file(path, "Dockerfile") == []
