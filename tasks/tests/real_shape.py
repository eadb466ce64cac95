"""A synthetic repository with the original project's shape, and a history of changes.

The original (StatCan's zone-kubeflow-containers, see shared/reference/real-repo-facts.md)
links each child to its parent only through `args = { BASE_IMAGE = "<parent>" }` and bare
`tags = ["<name>"]`, copies a Markdown guide into the image next to READMEs that nothing
copies, calls the base stage's `clean-layer.sh` from child stages, and has tests for
intermediate stages. `make(path)` builds that repository, commit by commit.

Every Step says, written by hand, which stages it changes directly and which stages'
tests it changes; the expected plan follows from that and this module's own parent map,
never from the runner's code.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from tasks.tests.support import commit_all, git, write

Change = Callable[[Path], None]

# stage -> parent (None: built on the upstream image); the graph of the first commit.
PARENTS: dict[str, str | None] = {
    "base": None,
    "mid": "base",
    "rstudio": "mid",
    "sas-kernel": "rstudio",
    "jupyterlab-cpu": "sas-kernel",
    "sas": "sas-kernel",
}
# Stages with a tests/<name or folder>/ of their own at the first commit.
TESTED = frozenset({"mid", "sas-kernel", "jupyterlab-cpu", "sas"})


@dataclasses.dataclass(frozen=True)
class Step:
    message: str
    change: Change
    direct: frozenset[str] = frozenset()  # stages whose own inputs this commit changes
    retest: frozenset[str] = frozenset()  # stages whose tests this commit changes
    parents: Mapping[str, str | None] | None = None  # the graph after it, when it changes
    tested: frozenset[str] | None = None  # stages with own tests after it, when that changes
    why: Mapping[str, str] = dataclasses.field(default_factory=dict)  # stage -> in its reasons


@dataclasses.dataclass(frozen=True)
class Commit:
    sha: str
    parent: str
    message: str
    build: frozenset[str]
    test: frozenset[str]
    why: Mapping[str, str]


def expected(
    parents: Mapping[str, str | None], tested: frozenset[str], step: Step
) -> tuple[frozenset[str], frozenset[str]]:
    """(build, test): the changed stages and their descendants; of those and the retested
    ones, every stage that has tests (a leaf always has: tests/general/)."""
    build = set(step.direct)
    grown = True
    while grown:
        more = {child for child, parent in parents.items() if parent in build} - build
        build |= more
        grown = bool(more)
    leaves = set(parents) - set(parents.values())
    has_tests = leaves | tested
    assert step.retest <= has_tests, f"{step.message}: retests a stage without tests"
    return frozenset(build), frozenset((build & has_tests) | step.retest)


def make(path: Path) -> list[Commit]:
    """The repository at `path` (branch master), and one Commit per step after the first."""
    path.mkdir(parents=True)
    for relative, text in FIRST_COMMIT.items():
        write(path, relative, text)
    git(path, "init", "-q", "-b", "master")
    previous = commit_all(path, "images: base, mid, rstudio, sas-kernel, jupyterlab, sas")
    parents, tested = dict(PARENTS), TESTED
    commits = []
    for step in HISTORY:
        step.change(path)
        parents = dict(step.parents) if step.parents is not None else parents
        tested = step.tested if step.tested is not None else tested
        build, test = expected(parents, tested, step)
        sha = commit_all(path, step.message)
        commits.append(Commit(sha, previous, step.message, build, test, step.why))
        previous = sha
    return commits


# --- edits ----------------------------------------------------------------------------


def edit(relative: str, old: str, new: str) -> Change:
    def change(repo: Path) -> None:
        text = (repo / relative).read_text()
        assert text.count(old) == 1, f"{relative}: {old!r} is not there exactly once"
        (repo / relative).write_text(text.replace(old, new))

    return change


def append(relative: str, text: str) -> Change:
    def change(repo: Path) -> None:
        with (repo / relative).open("a") as handle:
            handle.write(text)

    return change


def put(relative: str, text: str) -> Change:
    def change(repo: Path) -> None:
        write(repo, relative, text)

    return change


def move(source: str, destination: str) -> Change:
    def change(repo: Path) -> None:
        (repo / destination).parent.mkdir(parents=True, exist_ok=True)
        git(repo, "mv", source, destination)

    return change


def remove(relative: str) -> Change:
    def change(repo: Path) -> None:
        target = repo / relative
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return change


def together(*changes: Change) -> Change:
    def change(repo: Path) -> None:
        for one in changes:
            one(repo)

    return change


def stages(*names: str) -> frozenset[str]:
    return frozenset(names)


# --- the first commit -----------------------------------------------------------------

BAKE = "docker-bake.hcl"
UPSTREAM_OLD = "quay.io/jupyter/datascience-notebook:2025-03-05"
UPSTREAM_NEW = "quay.io/jupyter/datascience-notebook:2025-08-15"

FIRST_COMMIT: dict[str, str] = {
    "README.md": "# Kubeflow notebook images\n\nBuild them with `make`.\n",
    "Makefile": (
        "all: base mid rstudio sas-kernel jupyterlab-cpu sas\n\n%:\n\tdocker buildx bake $@\n"
    ),
    # The original's CI handed the storage key to every build as a build arg.
    ".github/workflows/docker.yaml": """\
name: Build and push
on:
  push:
    branches: [master]
jobs:
  sas-kernel:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Build image
        run: |
          make bake/sas-kernel DARGS="--push \\
            --set sas-kernel.args.ACCOUNT_NAME=${{ vars.SAS_SA_NAME }} \\
            --set sas-kernel.args.SRC_ACCOUNT_KEY=${{ secrets.SAS_SA_KEY_1 }}"
""",
    BAKE: """\
# Built stage by stage (make): each child's FROM finds its parent's local image by name.
group "default" {
  targets = ["jupyterlab-cpu", "sas"]
}

target "base" {
  context = "./images/base"
  tags    = ["base"]
  args    = { BASE_IMAGE = "quay.io/jupyter/datascience-notebook:2025-03-05" }
}

target "mid" {
  context = "./images/mid"
  tags    = ["mid"]
  args    = { BASE_IMAGE = "base" }
}

target "rstudio" {
  context = "./images/rstudio"
  tags    = ["rstudio"]
  args    = { BASE_IMAGE = "mid" }
}

target "sas-kernel" {
  context = "./images/sas_kernel"
  tags    = ["sas-kernel"]
  args    = { BASE_IMAGE = "rstudio", SAS_IMAGE = "sas.example.invalid/sas4c:1.0" }
}

target "jupyterlab-cpu" {
  context = "./images/jupyterlab"
  tags    = ["jupyterlab-cpu"]
  args    = { BASE_IMAGE = "sas-kernel" }
}

target "sas" {
  context = "./images/sas"
  tags    = ["sas"]
  args    = { BASE_IMAGE = "sas-kernel" }
}
""",
    # base: the cleanup helper every child calls; a RUN heredoc (not a COPY one).
    "images/base/Dockerfile": """\
# The common base: the upstream notebook image and the tools every stage needs.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

USER root

# Child stages end their package RUNs with this helper: caches never reach a layer.
COPY --chmod=0755 clean-layer.sh /usr/bin/clean-layer.sh

RUN apt-get update && \\
    apt-get install -y --no-install-recommends curl less openssh-client

RUN <<EOF
set -eu
mkdir -p /tmp_home/jovyan
ln -s /usr/bin/clean-layer.sh /usr/local/bin/clean-layer
EOF

USER ${NB_UID}
""",
    "images/base/clean-layer.sh": """\
#!/bin/bash
# The end of every RUN that installs packages: what installers leave behind goes.
set -euo pipefail
apt-get clean
rm -rf /var/lib/apt/lists/*
mamba clean --all -f -y
rm -rf $HOME/.cache/*
""",
    "images/base/README.md": "# base\n\nThe upstream image with a few tools.\n",
    # mid: a Markdown guide that IS copied, a README that is not, a bind-mounted list.
    "images/mid/Dockerfile": """\
# Tools on top of base: Python packages, editor settings, the file-share guide.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

USER root

# The package list is bind-mounted: it never becomes a layer of its own.
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \\
    pip install -r /tmp/requirements.txt && \\
    clean-layer.sh

RUN apt-get update && \\
    apt-get install -y --no-install-recommends htop tree && \\
    clean-layer.sh

# The guide to the file shares, in every user's home.
COPY connect-to-filer.md /tmp_home/jovyan/connect-to-filer.md
COPY vscode/*.json /tmp_home/jovyan/.vscode/

RUN mkdir -p /tmp_home/jovyan/.config && \\
    chmod -R g=u /tmp_home/jovyan

USER ${NB_UID}
""",
    "images/mid/connect-to-filer.md": "# Connect to the filer\n\nOpen the Filer tab.\n",
    "images/mid/README.md": "# mid\n\nTools on top of base.\n",
    "images/mid/requirements.txt": "pyarrow\nduckdb\n",
    "images/mid/vscode/settings.json": '{"editor.tabSize": 4}\n',
    "images/mid/notes-sas.txt": "SAS notes, kept here for now.\n",
    # rstudio: a COPY source named by a build arg (the runner cannot know which file).
    "images/rstudio/Dockerfile": """\
# R and RStudio on top of mid.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

USER root

# The fingerprint of the signing key: checked against the key, public, not a secret.
ARG RSTUDIO_KEY_FINGERPRINT=0123456789ABCDEF0123456789ABCDEF01234567
ARG RPROFILE=Rprofile.site

RUN apt-get update && \\
    apt-get install -y --no-install-recommends r-base gnupg && \\
    clean-layer.sh

RUN pip install radian

COPY ${RPROFILE} /usr/lib/R/etc/Rprofile.site

USER ${NB_UID}
""",
    "images/rstudio/Rprofile.site": 'options(repos = c(CRAN = "https://cloud.r-project.org"))\n',
    "images/rstudio/README.md": "# rstudio\n",
    # sas-kernel: a COPY --from an image alias whose source also exists in the folder.
    "images/sas_kernel/Dockerfile": """\
# The SAS kernel, with the SAS configuration taken from the SAS image.
ARG SAS_IMAGE
ARG BASE_IMAGE
FROM ${SAS_IMAGE} AS sas-image

FROM ${BASE_IMAGE}

USER root

# The storage account the installer downloads from.
ARG ACCOUNT_NAME
ARG SRC_ACCOUNT_KEY

COPY --from=sas-image SASHome/sasv9.cfg /opt/sas/sasv9.cfg
COPY kernel.json /opt/conda/share/jupyter/kernels/sas/kernel.json

RUN mamba install -y -c conda-forge saspy && \\
    clean-layer.sh

USER ${NB_UID}
""",
    "images/sas_kernel/kernel.json": '{"display_name": "SAS", "language": "sas"}\n',
    "images/sas_kernel/SASHome/sasv9.cfg": "/* a copy of the SAS image's file, to read */\n",
    "images/sas_kernel/README.md": "# sas-kernel\n",
    # jupyterlab: pip's cache cleared by hand; files nothing copies (until a heredoc).
    "images/jupyterlab/Dockerfile": """\
# The everyday image: JupyterLab on top of the SAS kernel.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

USER root

COPY start-custom.sh /usr/local/bin/start-custom.sh

USER ${NB_UID}

RUN pip install jupyterlab-git && \\
    rm -rf $HOME/.cache/*
""",
    "images/jupyterlab/start-custom.sh": '#!/bin/bash\nexec start-notebook.py "$@"\n',
    "images/jupyterlab/notes.txt": "maintainer notes\n",
    "images/jupyterlab/keybindings.json": '[{"key": "ctrl+k", "command": "noop"}]\n',
    # sas: `COPY .` with a .dockerignore that keeps notes out.
    "images/sas/Dockerfile": """\
# Like jupyterlab-cpu, with SAS Studio.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

USER root

# Everything in this folder that .dockerignore lets through.
COPY . /opt/sas-studio/
RUN /opt/sas-studio/setup.sh

USER ${NB_UID}
""",
    "images/sas/.dockerignore": "# Notes for maintainers stay out of the image.\n*.md\ndrafts/\n",
    "images/sas/setup.sh": "#!/bin/sh\nset -eu\nln -s /opt/sas-studio/sas-studio.conf /etc/\n",
    "images/sas/sas-studio.conf": "port = 7080\n",
    "images/sas/CHANGELOG.txt": "1.0: first release\n",
    "images/sas/README.md": "# sas\n",
    "images/sas/drafts/todo.txt": "- try the new studio\n",
    "images/sas/drafts/kernel-notes.txt": "notes about the kernel\n",
    # tests: general (served images), an intermediate stage's, by name and by folder.
    "tests/conftest.py": "import pytest\n\nTIMEOUT = 60\n",
    "tests/general/test_general.py": "def test_home():\n    assert True\n",
    "tests/mid/test_mid.py": "def test_duckdb():\n    assert True\n",
    "tests/sas_kernel/test_kernel.py": "def test_kernel():\n    assert True\n",
    "tests/jupyterlab-cpu/test_lab.py": "def test_lab():\n    assert True\n",
    "tests/sas/test_sas.py": "def test_studio():\n    assert True\n",
}

ALL = stages(*PARENTS)
SERVED = stages("jupyterlab-cpu", "sas")
SLIM = "jupyterlab-slim"
WITH_SLIM = {**PARENTS, SLIM: "mid"}
CHILDREN = [(name, parent) for name, parent in PARENTS.items() if parent]

SLIM_TARGET = """
target "jupyterlab-slim" {
  context  = "./images/jupyterlab_slim"
  contexts = { mid = "target:mid" }
  tags     = ["${REPO}/jupyterlab-slim:${TAG}"]
  args     = { BASE_IMAGE = "mid" }
}
"""
# sas's arg (its tags above it, so that jupyterlab-cpu's same arg is not this one)
SAS_ARG = '"${REPO}/sas-studio:${TAG}"]\n  args    = { BASE_IMAGE = "sas-kernel" }'
VARIABLES = """\
variable "REPO" {
  default = "zone"
}

variable "TAG" {
  default = "dev"
}

"""


def _tags_under_repo(repo: Path) -> None:
    for name in PARENTS:
        edit(BAKE, f'tags    = ["{name}"', f'tags    = ["${{REPO}}/{name}:${{TAG}}"')(repo)
    edit(BAKE, '"sas-studio"]', '"${REPO}/sas-studio:${TAG}"]')(repo)
    edit(BAKE, 'group "default"', VARIABLES + 'group "default"')(repo)


def _contexts_links(repo: Path) -> None:
    """The migration: each child also names its parent as a `target:` context."""
    for name, parent in CHILDREN:
        edit(
            BAKE,
            f'target "{name}" {{\n',
            f'target "{name}" {{\n  contexts = {{ {parent} = "target:{parent}" }}\n',
        )(repo)
    # The arg respelled by its tag goes back to the context's key: still the same parent.
    edit(BAKE, '"${REPO}/sas-kernel:${TAG}" }', '"sas-kernel" }')(repo)


# --- the history ----------------------------------------------------------------------

HISTORY: list[Step] = [
    Step(
        "mid: the file-share guide (COPYd into every home) gets a section",
        append("images/mid/connect-to-filer.md", "\n## From R\n\nUse the same path.\n"),
        direct=stages("mid"),
        why={"mid": "images/mid/connect-to-filer.md (COPY, Dockerfile:"},
    ),
    Step(
        "mid: README (nothing copies it)",
        append("images/mid/README.md", "\nIt adds pyarrow and duckdb.\n"),
    ),
    Step(
        "base: clean-layer.sh also empties /tmp",
        append("images/base/clean-layer.sh", "rm -rf /tmp/*\n"),
        direct=stages("base"),
    ),
    Step(
        "base: README (its Dockerfile has a RUN heredoc, no COPY heredoc)",
        append("images/base/README.md", "\nEvery child calls clean-layer.sh.\n"),
    ),
    Step(
        "tests: the parquet test of mid (tests/mid/ only)",
        append("tests/mid/test_mid.py", "\n\ndef test_parquet():\n    assert True\n"),
        retest=stages("mid"),
    ),
    Step(
        "tests: general checks the home folder's owner",
        append("tests/general/test_general.py", "\n\ndef test_owner():\n    assert True\n"),
        retest=SERVED,
    ),
    Step(
        "tests: a longer timeout in conftest.py",
        edit("tests/conftest.py", "TIMEOUT = 60", "TIMEOUT = 120"),
        retest=stages("mid", "sas-kernel", "jupyterlab-cpu", "sas"),
    ),
    Step(
        "sas: drafts and README (.dockerignore keeps both out of COPY .)",
        together(
            append("images/sas/drafts/todo.txt", "- and the new kernel\n"),
            append("images/sas/README.md", "\nSAS Studio on port 7080.\n"),
        ),
    ),
    Step(
        "sas: studio listens on 7081",
        edit("images/sas/sas-studio.conf", "7080", "7081"),
        direct=stages("sas"),
    ),
    Step(
        "sas: .dockerignore keeps the changelog out too",
        append("images/sas/.dockerignore", "CHANGELOG.txt\n"),
        direct=stages("sas"),
        why={"sas": "images/sas/.dockerignore"},
    ),
    Step(
        "sas: changelog (ignored now)",
        append("images/sas/CHANGELOG.txt", "1.1: port 7081\n"),
    ),
    Step(
        "rstudio: README (a COPY source from a build arg: every file may be read)",
        append("images/rstudio/README.md", "\nR and RStudio.\n"),
        direct=stages("rstudio"),
        why={"rstudio": "images/rstudio/README.md (every file in the context"},
    ),
    Step(
        "rstudio: Rprofile sets a download timeout",
        append("images/rstudio/Rprofile.site", "options(timeout = 300)\n"),
        direct=stages("rstudio"),
    ),
    Step(
        "sas-kernel: the reference sasv9.cfg (COPY --from the SAS image reads its own)",
        append("images/sas_kernel/SASHome/sasv9.cfg", "-memsize 2G\n"),
    ),
    Step(
        "sas-kernel: kernel display name",
        edit("images/sas_kernel/kernel.json", '"SAS"', '"SAS 9.4"'),
        direct=stages("sas-kernel"),
    ),
    Step(
        "jupyterlab: maintainer notes (nothing copies them)",
        append("images/jupyterlab/notes.txt", "rebuild monthly\n"),
    ),
    Step(
        "jupyterlab: start-custom.sh sets the umask",
        edit("images/jupyterlab/start-custom.sh", "exec ", "umask 0002\nexec "),
        direct=stages("jupyterlab-cpu"),
    ),
    Step(
        "mid: polars (requirements.txt is bind-mounted by a RUN)",
        append("images/mid/requirements.txt", "polars\n"),
        direct=stages("mid"),
        why={"mid": "images/mid/requirements.txt (RUN --mount"},
    ),
    Step(
        "mid: VS Code settings (COPY vscode/*.json)",
        edit("images/mid/vscode/settings.json", "4", "2"),
        direct=stages("mid"),
        why={"mid": "images/mid/vscode/settings.json (COPY, Dockerfile:"},
    ),
    Step(
        "mid: a note beside the VS Code settings (the glob takes only *.json)",
        put("images/mid/vscode/NOTES.txt", "settings for every user\n"),
    ),
    Step(
        "move the SAS notes from mid (not copied) to sas (COPY .)",
        move("images/mid/notes-sas.txt", "images/sas/notes-sas.txt"),
        direct=stages("sas"),
        why={"sas": "images/sas/notes-sas.txt (COPY, Dockerfile:"},
    ),
    Step(
        "move the kernel notes from sas's drafts (ignored) to sas_kernel (not copied)",
        move("images/sas/drafts/kernel-notes.txt", "images/sas_kernel/kernel-notes.txt"),
    ),
    Step(
        "move the VS Code keybindings from jupyterlab (not copied) into mid's vscode/",
        move("images/jupyterlab/keybindings.json", "images/mid/vscode/keybindings.json"),
        direct=stages("mid"),
    ),
    Step(
        "mid: drop the VS Code settings file (a deleted COPY source)",
        remove("images/mid/vscode/settings.json"),
        direct=stages("mid"),
    ),
    Step(
        "jupyterlab: server settings from a COPY heredoc",
        edit(
            "images/jupyterlab/Dockerfile",
            "USER ${NB_UID}\n",
            "COPY <<EOF /etc/jupyter/jupyter_server_config.d/zone.json\n"
            '{"ServerApp": {"shutdown_no_activity_timeout": 3600}}\n'
            "EOF\n\nUSER ${NB_UID}\n",
        ),
        direct=stages("jupyterlab-cpu"),
    ),
    Step(
        "jupyterlab: maintainer notes (with a COPY heredoc, every file may be read)",
        append("images/jupyterlab/notes.txt", "the server stops after an idle hour\n"),
        direct=stages("jupyterlab-cpu"),
        why={"jupyterlab-cpu": "images/jupyterlab/notes.txt (every file in the context"},
    ),
    Step(
        "bake: upstream notebook 2025-08-15, as CI had it",
        edit(BAKE, UPSTREAM_OLD, UPSTREAM_NEW),
        direct=stages("base"),
        why={"base": "docker-bake.hcl"},
    ),
    Step(
        "bake: SAS image 1.1",
        edit(BAKE, "sas4c:1.0", "sas4c:1.1"),
        direct=stages("sas-kernel"),
    ),
    Step(
        "bake: sas is also tagged sas-studio (a tag only)",
        edit(BAKE, 'tags    = ["sas"]', 'tags    = ["sas", "sas-studio"]'),
    ),
    Step(
        "bake: images named ${REPO}/NAME:${TAG} (tags only)",
        _tags_under_repo,
    ),
    Step(
        "bake: sas names its parent by its tag (the same target)",
        edit(BAKE, SAS_ARG, SAS_ARG.replace('"sas-kernel"', '"${REPO}/sas-kernel:${TAG}"')),
    ),
    Step(
        "bake: contexts links that mirror the args, for plain docker buildx bake",
        _contexts_links,
    ),
    Step(
        "new image jupyterlab-slim on mid",
        together(
            append(BAKE, SLIM_TARGET),
            put(
                "images/jupyterlab_slim/Dockerfile",
                "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
                "ADD start-slim.sh /usr/local/bin/start-slim.sh\n",
            ),
            put("images/jupyterlab_slim/start-slim.sh", "#!/bin/sh\nexec jupyter lab\n"),
        ),
        direct=stages(SLIM),
        parents=WITH_SLIM,
    ),
    Step(
        "tests: rstudio gets tests of its own",
        put("tests/rstudio/test_rstudio.py", "def test_r():\n    assert True\n"),
        retest=stages("rstudio"),
        tested=TESTED | {"rstudio"},
    ),
    Step(
        "tests: conftest.py waits for the server",
        append("tests/conftest.py", "READY = '/api/status'\n"),
        retest=stages("mid", "rstudio", "sas-kernel", "jupyterlab-cpu", "sas", SLIM),
    ),
    Step(
        "tests: general checks the locale",
        put("tests/general/test_locale.py", "def test_locale():\n    assert True\n"),
        retest=stages("jupyterlab-cpu", "sas", SLIM),
    ),
    Step(
        "base: git in the base image",
        edit("images/base/Dockerfile", "curl less", "curl git less"),
        direct=stages("base"),
    ),
    Step(
        "tests: the kernel runs code (tests/sas_kernel/: a folder name)",
        append("tests/sas_kernel/test_kernel.py", "\n\ndef test_run():\n    assert True\n"),
        retest=stages("sas-kernel"),
    ),
    Step(
        "tests: JupyterLab's extensions (tests/jupyterlab-cpu/: a target name)",
        append("tests/jupyterlab-cpu/test_lab.py", "\n\ndef test_git():\n    assert True\n"),
        retest=stages("jupyterlab-cpu"),
    ),
    Step(
        "sas-kernel: kernel tests and the kernel's language in one commit",
        together(
            append("tests/sas_kernel/test_kernel.py", "\n\ndef test_lang():\n    assert True\n"),
            edit("images/sas_kernel/kernel.json", '"sas"', '"SAS"'),
        ),
        direct=stages("sas-kernel"),
        retest=stages("sas-kernel"),
    ),
    Step(
        "mid's tests and sas-kernel's kernel in one commit",
        together(
            append("tests/mid/test_mid.py", "\n\ndef test_polars():\n    assert True\n"),
            edit("images/sas_kernel/kernel.json", '"SAS 9.4"', '"SAS 9.4 M8"'),
        ),
        direct=stages("sas-kernel"),
        retest=stages("mid"),
    ),
    Step(
        "drop jupyterlab-slim",
        together(edit(BAKE, SLIM_TARGET, ""), remove("images/jupyterlab_slim")),
        parents=PARENTS,
    ),
    Step(
        "README and Makefile (outside every stage)",
        together(
            append("README.md", "\nOr with `nox -s bake`.\n"),
            edit("Makefile", "all:", ".PHONY: all\nall:"),
        ),
    ),
    Step(
        "the guide and the studio's port in one commit",
        together(
            append("images/mid/connect-to-filer.md", "\n## From SAS\n\nThe same.\n"),
            edit("images/sas/sas-studio.conf", "7081", "7082"),
        ),
        direct=stages("mid", "sas"),
    ),
]

# The lint findings planted in the last commit's Dockerfiles and workflow: (file, how the
# line of the finding starts). Everything else in them is clean, on purpose.
PLANTED_FINDINGS = [
    ("images/base/Dockerfile", "RUN apt-get update"),  # apt lists left behind
    ("images/mid/Dockerfile", "RUN mkdir -p /tmp_home/jovyan/.config"),  # chmod -R g=u
    ("images/rstudio/Dockerfile", "RUN pip install radian"),  # pip cache
    ("images/sas_kernel/Dockerfile", "ARG SRC_ACCOUNT_KEY"),  # a credential as build arg
    (".github/workflows/docker.yaml", "--set sas-kernel.args.SRC_ACCOUNT_KEY="),  # and its value
]


def planted_lines(repo: Path) -> set[tuple[str, int]]:
    """(file, line) of each planted finding in the repository as it is now."""
    found = set()
    for relative, first_line in PLANTED_FINDINGS:
        lines = (repo / relative).read_text().splitlines()
        at = [n for n, line in enumerate(lines, 1) if line.lstrip().startswith(first_line)]
        assert len(at) == 1, f"{relative}: {first_line!r} is not there exactly once"
        found.add((relative, at[0]))
    return found
