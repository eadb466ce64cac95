"""The lint on stacked images, a repository of the original's sister project's shape.

Written for these tests (no file of that project): a root stage on an upstream image sets
`SHELL` with pipefail, `USER root` and copies in a cleanup helper; the stages built on it
pipe in RUN without a SHELL of their own, end RUNs with the helper, and those that other
stages build on end as root; downloads are verified with `sha256sum -c` on a saved file;
versions are written inline in pip, mamba, npm and apt-get commands. The findings must be
exactly the planted ones: real hadolint, layer and pin checks, as `nox -s lint` runs them.
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks.lint import layers, stacked
from tasks.lint import pins as pin_checks
from tasks.lint.stages import StageImages
from tasks.tests.support import git, run_tasks, write

PROJECT = Path(__file__).resolve().parents[3]
SUM = "0" * 63 + "1"

BAKE = """\
variable "UPSTREAM" {
  default = "quay.io/jupyter/base-notebook:2024-12-02"
}
target "base" {
  context = "./images/base"
  args = { BASE_IMAGE = "${UPSTREAM}" }
  tags = ["base"]
}
target "mid" {
  context = "./images/mid"
  args = { BASE_IMAGE = "base" }
  tags = ["mid"]
}
target "leaf" {
  context = "./images/leaf"
  args = { BASE_IMAGE = "mid" }
  tags = ["leaf"]
}
target "rootleaf" {
  context = "./images/rootleaf"
  args = { BASE_IMAGE = "mid" }
  tags = ["rootleaf"]
}
"""

CLEAN_LAYER = """\
#!/bin/bash
# Called at the end of each RUN: what the layer must not keep.
set -e
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* "$HOME/.cache"
if command -v mamba >/dev/null; then mamba clean --all -f -y; fi
"""

BASE = f"""\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
ENV NB_UID=1000
USER root
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY clean-layer.sh /usr/bin/clean-layer.sh
# pin: url tool; evidence: the project's release page
ARG TOOL_URL=https://example.org/download/tool-1.2.3.tar.gz
# pin: sha256 TOOL_URL; evidence: the release's SHA256SUMS file
ARG TOOL_SHA256={SUM}
RUN apt-get update \\
    && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u8 \\
    && curl -fsSL "${{TOOL_URL}}" > /tmp/tool.tar.gz \\
    && echo "${{TOOL_SHA256}}  /tmp/tool.tar.gz" | sha256sum -c - \\
    && tar -xzf /tmp/tool.tar.gz -C /usr/local/bin \\
    && clean-layer.sh
"""

MID = """\
ARG BASE_IMAGE=base
FROM $BASE_IMAGE
USER root
RUN apt-get update \\
    && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u1 \\
    && clean-layer.sh
RUN pip3 --no-cache-dir install --quiet 'wheel==0.40.0' \\
    && pip list --format=freeze | grep -q '^wheel=='
RUN mamba install --yes 'r-base=4.3.3' && clean-layer.sh
RUN cd /opt && git --version
"""

LEAF = """\
ARG BASE_IMAGE=mid
FROM ${BASE_IMAGE}
USER root
RUN npm install --global configurable-http-proxy@4.6.1 \\
    && npm ls --global | grep -q configurable-http-proxy
RUN apt-get update && apt-get install -y --no-install-recommends vim=2:9.0.1378-2
USER ${NB_UID}
"""

ROOTLEAF = """\
ARG BASE_IMAGE=mid
FROM debian:12.8-slim AS notes
RUN echo "built" | tee /notes.txt
FROM ${BASE_IMAGE}
COPY --from=notes /notes.txt /opt/notes.txt
USER root
"""

# (folder, line, what): every finding the lint must report on the set, and no other.
PLANTED = [
    ("leaf", 6, "hadolint: DL3009"),  # no cleanup in this RUN, no helper: both say it
    ("leaf", 6, "layers: apt lists stay"),
    ("mid", 7, "pins: pip installs wheel 0.40.0, a literal version"),
    ("mid", 9, "pins: conda installs r-base 4.3.3, a literal version"),
    ("mid", 10, "hadolint: DL3003"),  # cd in a RUN
    ("rootleaf", 3, "hadolint: DL4006"),  # a stage on an outside image: its shell is sh
    ("rootleaf", 6, "hadolint: DL3002"),  # an image people run, ending as root
]


def sister_shape(root: Path) -> Path:
    write(root, "docker-bake.hcl", BAKE)
    write(root, "images/base/Dockerfile", BASE)
    write(root, "images/base/clean-layer.sh", CLEAN_LAYER)
    write(root, "images/mid/Dockerfile", MID)
    write(root, "images/leaf/Dockerfile", LEAF)
    write(root, "images/rootleaf/Dockerfile", ROOTLEAF)
    git(root, "init", "-q")
    return root


def lint_findings(root: Path) -> list[tuple[str, int, str]]:
    """(folder, line, 'check: message') of hadolint, layers and pins over the set, as
    `nox -s lint -- --only ... PATH` reports them."""
    only = ("--only", "hadolint", "--only", "layers", "--only", "pins")
    result = run_tasks(PROJECT, "lint", *only, str(root / "images"))
    assert "Traceback" not in result.stderr, result.stderr
    found = []
    for block in re.split(r"^(?=\S+\.{3,}(?:Passed|Failed|Skipped))", result.stderr, flags=re.M):
        check = block.split(".", 1)[0]
        pattern = r"^\s*\S+/images/(\w+)/Dockerfile:(\d+):? (.*)$"
        for folder, line, message in re.findall(pattern, block, re.M):
            if "is off here" not in message:
                found.append((folder, int(line), f"{check}: {message}"))
    return sorted(found)


def test_the_findings_on_stacked_images_are_exactly_the_planted_ones(tmp_path: Path) -> None:
    root = sister_shape(tmp_path / "sister")
    found = lint_findings(root)
    assert len(found) == len(PLANTED), found
    for (folder, line, message), (want_folder, want_line, want) in zip(
        found, sorted(PLANTED), strict=True
    ):
        assert (folder, line) == (want_folder, want_line), found
        assert message.startswith(want) or want in message, (message, want)


def test_each_rule_is_off_only_where_the_parents_make_it_wrong(tmp_path: Path) -> None:
    root = sister_shape(tmp_path / "sister")
    images = StageImages("docker-bake.hcl", root)

    def off(folder: str) -> dict[str, str]:
        path = root / "images" / folder / "Dockerfile"
        return {o.rule: o.reason for o in stacked.rules_off(path, images)}

    assert set(off("base")) == {"DL3009", "DL3002", "DL3066"}  # its SHELL: hadolint sees it
    assert "mid build on base" in off("base")["DL3002"]
    assert set(off("mid")) == {"DL4006", "DL3009", "DL3002", "DL3066"}
    assert "pipefail" in off("mid")["DL4006"] and "clean-layer.sh" in off("mid")["DL3009"]
    # a final image: DL3002 stays on; no helper called; USER ${NB_UID} is base's 1000
    assert set(off("leaf")) == {"DL4006", "DL3066"} and "1000" in off("leaf")["DL3066"]
    assert set(off("rootleaf")) == {"DL3066"}  # a stage on debian pipes: DL4006 is right


def test_a_user_by_name_keeps_the_numeric_user_rule(tmp_path: Path) -> None:
    root = sister_shape(tmp_path / "sister")
    path = root / "images/leaf/Dockerfile"
    path.write_text(LEAF.replace("USER ${NB_UID}", "USER jovyan"))
    rules = [o.rule for o in stacked.rules_off(path, StageImages("docker-bake.hcl", root))]
    assert rules == ["DL4006"]


def test_a_child_that_drops_pipefail_keeps_the_rule(tmp_path: Path) -> None:
    root = sister_shape(tmp_path / "sister")
    path = root / "images/mid/Dockerfile"
    path.write_text(MID.replace("USER root\n", 'USER root\nSHELL ["/bin/sh", "-c"]\n'))
    rules = [o.rule for o in stacked.rules_off(path, StageImages("docker-bake.hcl", root))]
    assert "DL4006" not in rules and "DL3009" in rules


def test_without_the_bake_file_nothing_is_known_and_hadolint_says_it_all(
    tmp_path: Path,
) -> None:
    root = sister_shape(tmp_path / "sister")
    (root / "docker-bake.hcl").unlink()
    found = lint_findings(root)
    rules = {(folder, message.split()[1]) for folder, _, message in found}
    assert {("mid", "DL4006"), ("mid", "DL3009"), ("mid", "DL3002")} <= rules


def test_the_repository_config_still_applies_beside_the_rules_switched_off(
    tmp_path: Path,
) -> None:
    """hadolint gets a config of ours only to add to the repository's ignores."""
    root = sister_shape(tmp_path / "sister")
    write(root, "pyproject.toml", "[tool.zone]\n")
    write(root, ".hadolint.yaml", "ignored:\n  # cd in a RUN is fine here\n  - DL3003\n")
    result = run_tasks(root, "lint", "--only", "hadolint", "images")
    assert "DL3003" not in result.stderr and "DL4006" in result.stderr  # rootleaf's
    assert "images/mid/Dockerfile: hadolint DL4006 is off here" in result.stderr


def test_the_parent_shell_is_read_from_the_parent_stage() -> None:
    assert stacked.has_pipefail('["/bin/bash", "-euxo", "pipefail", "-c"]')
    assert not stacked.has_pipefail('["/bin/bash", "-c"]')
    assert not stacked.has_pipefail("/bin/bash -o pipefail -c")  # not JSON: docker refuses it
    from tasks.dockerfile import parse

    _, image = layers.walk(parse(BASE), None, None, "base")
    assert stacked.has_pipefail(image.shell)


def test_a_checksum_verified_on_a_saved_file_counts() -> None:
    assert pin_checks.check_text(BASE) == []
    other = BASE.replace('  /tmp/tool.tar.gz"', '  /tmp/other.tar.gz"')
    assert [m.split(" without")[0] for _, m in pin_checks.check_text(other)] == [
        "curl downloads /tmp/tool.tar.gz"
    ]
    for fetch in ('curl -fsSLO "${TOOL_URL}"', 'curl -sLo tool-1.2.3.tar.gz "${TOOL_URL}"'):
        run = (
            f"RUN {fetch} && "
            'echo "${TOOL_SHA256}  tool-1.2.3.tar.gz" | sha256sum -c - && rm tool-1.2.3.tar.gz\n'
        )
        assert pin_checks.check_text(BASE + run) == [], fetch
    unchecked = BASE + 'RUN curl -fsSL "${TOOL_URL}" > /tmp/other.tar.gz\n'
    assert [line for line, _ in pin_checks.check_text(unchecked)] == [BASE.count("\n") + 1]


def test_inline_versions_follow_the_pin_policy() -> None:
    """pip and conda/mamba: a literal version is a finding asking for a pin ARG (kinds
    `nox -s pins` checks); npm and apt-get: pinned as hadolint's DL3016/DL3008 ask (no pin
    kind exists for them), no finding."""
    runs = {
        "RUN pip install --no-cache-dir 'wheel==0.40.0'\n": "pip installs wheel 0.40.0",
        "RUN python3 -m pip install wheel==0.40.0\n": "pip installs wheel 0.40.0",
        "RUN pip3 --no-cache-dir install --quiet 'lxml==5.3.1'\n": "pip installs lxml 5.3.1",
        "RUN mamba install -y -c conda-forge 'r-base=4.3.3'\n": "conda installs r-base 4.3.3",
        "RUN micromamba install -y jupyterlab==4.2.5\n": "conda installs jupyterlab 4.2.5",
        "RUN npm install -g configurable-http-proxy@4.6.1\n": "",
        "RUN apt-get install -y --no-install-recommends curl=7.88.1-10\n": "",
    }
    for run, expected in runs.items():
        messages = [m for _, m in pin_checks.check_text("FROM x\n" + run)]
        assert [m.split(",")[0] for m in messages] == ([expected] if expected else []), run


def test_an_unreadable_hadolint_config_is_one_message(tmp_path: Path) -> None:
    root = sister_shape(tmp_path / "sister")
    write(root, "pyproject.toml", "[tool.zone]\n")
    write(root, ".hadolint.yaml", "ignored: [DL3003\n")
    result = run_tasks(root, "lint", "--only", "hadolint", "images")
    assert result.returncode == 1
    assert "cannot read .hadolint.yaml" in result.stderr and "Traceback" not in result.stderr


def test_user_root_beside_a_named_user_is_said_with_the_inline_ignore(tmp_path: Path) -> None:
    """hadolint's config is per file: DL3066 stays on for `USER jovyan` and is wrong on
    `USER root`; the line to add is said, and it silences exactly that report."""
    root = sister_shape(tmp_path / "sister")
    # (a DL3003 to fail the hook, so that its output and notes are shown)
    text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nUSER root\nRUN cd /tmp && true\nUSER jovyan\n"
    path = write(root, "images/leaf/Dockerfile", text)
    images = StageImages("docker-bake.hcl", root)
    assert stacked.root_users_kept(path, images) == [3]
    assert "DL3066" not in [o.rule for o in stacked.rules_off(path, images)]
    result = run_tasks(root, "lint", "--only", "hadolint", "images/leaf")
    assert "images/leaf/Dockerfile:3 DL3066" in result.stderr
    assert "images/leaf/Dockerfile:3: hadolint DL3066 is wrong on `USER root`" in result.stderr
    said = "# root is uid 0 in every image\n# hadolint ignore=DL3066\n"
    write(root, "images/leaf/Dockerfile", text.replace("USER root\n", said + "USER root\n"))
    result = run_tasks(
        root, "lint", "--only", "hadolint", "--only", "hadolint ignores", "images/leaf"
    )
    assert "DL3066" in result.stderr  # USER jovyan's, which is right
    assert "Dockerfile:5 DL3066" not in result.stderr and "Dockerfile:7 DL3066" in result.stderr
    assert "without a comment saying why" not in result.stderr
