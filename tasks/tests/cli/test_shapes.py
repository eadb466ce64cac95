"""The shapes real stacked-image repositories have, on a synthetic repository of the sister
project's shape: one folder (images/cmd) building four targets on four different parents,
folders named like other targets (images/sas builds mid-sas, images/rstudio builds
mid-rstudio), parents named by a build arg alone, two upstreams, an orphan tests folder.

Over a history of varied commits, the plan of each commit against its parent must equal
an expectation computed here from a hand-written table of the files each target reads
and a hand-written parent map, never with the runner's own functions.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks import bake, bakefile, changes, plan
from tasks.console import ZoneError
from tasks.settings import load
from tasks.tests.cli.test_errors import assert_one_clear_error
from tasks.tests.support import PROJECT, clean_env, commit_all, git, run_tasks, write

JUPYTER = "quay.io/jupyter/datascience-notebook:2024-07-01"
ROCKER = "rocker/rstudio:4.3.2"
CMD = ["jupyterlab-cpu", "jupyterlab-tensorflow", "rstudio", "sas"]


def bake_text(jupyter: str = JUPYTER, rocker: str = ROCKER, sas_flavour: str = "sas") -> str:
    return f"""
variable "JUPYTER_IMAGE" {{
  default = "{jupyter}"
}}
variable "ROCKER_IMAGE" {{
  default = "{rocker}"
}}
target "base" {{
  context = "./images/base"
  args = {{ BASE_IMAGE = "${{JUPYTER_IMAGE}}" }}
  tags = ["base"]
}}
target "rbase" {{
  context = "./images/rbase"
  args = {{ BASE_IMAGE = "${{ROCKER_IMAGE}}" }}
  tags = ["rbase"]
}}
target "mid" {{
  context = "./images/mid"
  args = {{ BASE_IMAGE = "base" }}
  tags = ["mid"]
}}
target "mid-tensorflow" {{
  context = "./images/tensorflow"
  args = {{ BASE_IMAGE = "mid" }}
  tags = ["mid-tensorflow"]
}}
target "mid-rstudio" {{
  context = "./images/rstudio"
  args = {{ BASE_IMAGE = "rbase" }}
  tags = ["mid-rstudio"]
}}
target "mid-sas" {{
  context = "./images/sas"
  args = {{ BASE_IMAGE = "mid" }}
  tags = ["mid-sas"]
}}
target "jupyterlab-cpu" {{
  context = "./images/cmd"
  args = {{ BASE_IMAGE = "mid", FLAVOUR = "cpu" }}
  tags = ["jupyterlab-cpu"]
}}
target "jupyterlab-tensorflow" {{
  context = "./images/cmd"
  args = {{ BASE_IMAGE = "mid-tensorflow", FLAVOUR = "tensorflow" }}
  tags = ["jupyterlab-tensorflow"]
}}
target "rstudio" {{
  context = "./images/cmd"
  args = {{ BASE_IMAGE = "mid-rstudio", FLAVOUR = "rstudio" }}
  tags = ["rstudio"]
}}
target "sas" {{
  context = "./images/cmd"
  args = {{ BASE_IMAGE = "mid-sas", FLAVOUR = "{sas_flavour}" }}
  tags = ["sas"]
}}
"""


FROM = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
FILES = {
    "images/base/Dockerfile": FROM + "COPY clean-layer.sh /usr/bin/\nRUN clean-layer.sh\n",
    "images/base/clean-layer.sh": "#!/bin/sh\nrm -rf /var/lib/apt/lists/*\n",
    "images/base/README.md": "# base\n",
    "images/rbase/Dockerfile": FROM + "COPY setup.R /tmp/setup.R\n",
    "images/rbase/setup.R": "install.packages('x')\n",
    "images/mid/Dockerfile": FROM + "COPY guide.md start.sh /opt/\n",
    "images/mid/guide.md": "# a guide for users, copied into the image\n",
    "images/mid/start.sh": "#!/bin/sh\n",
    "images/mid/notes.txt": "not read\n",
    "images/tensorflow/Dockerfile": FROM + "COPY requirements.txt /tmp/\n",
    "images/tensorflow/requirements.txt": "tensorflow==2.15.0\n",
    "images/rstudio/Dockerfile": FROM + "COPY rserver.conf /etc/rstudio/\n",
    "images/rstudio/rserver.conf": "www-port=8787\n",
    "images/sas/Dockerfile": FROM + "COPY sas.cfg /opt/sas/\n",
    "images/sas/sas.cfg": "sas\n",
    "images/cmd/Dockerfile": FROM
    + "ARG FLAVOUR\nCOPY entrypoint.sh /usr/local/bin/\nCOPY flavours/ /opt/flavours/\n"
    + "LABEL flavour=${FLAVOUR}\n",
    "images/cmd/.dockerignore": "flavours/*.md\n",
    "images/cmd/entrypoint.sh": '#!/bin/sh\nexec "$@"\n',
    "images/cmd/flavours/cpu.txt": "cpu\n",
    "images/cmd/flavours/notes.md": "ignored by .dockerignore\n",
    "images/cmd/README.md": "# cmd\n",
    "tests/conftest.py": "# shared setup\n",
    "tests/general/test_general.py": "def test_ok():\n    pass\n",
    "tests/mid/test_mid.py": "def test_mid():\n    pass\n",
    "tests/tensorflow/test_tf.py": "def test_tf():\n    pass\n",  # folder name of mid-tensorflow
    "tests/sas/test_sas.py": "def test_sas():\n    pass\n",  # target sas, not images/sas
    "tests/rstudio/test_r.py": "def test_r():\n    pass\n",  # target rstudio
    "tests/orphan/test_orphan.py": "def test_never_run():\n    pass\n",  # names no target
    "README.md": "# sister\n",
}

# Hand-written: what each target reads (a path, or a folder ending in /) and what it
# cannot see (.dockerignore), its parents, and its test folders.
CMD_READS = ["images/cmd/Dockerfile", "images/cmd/.dockerignore", "images/cmd/entrypoint.sh"]
CMD_READS += ["images/cmd/flavours/"]
READS: dict[str, list[str]] = {
    "base": ["images/base/Dockerfile", "images/base/clean-layer.sh"],
    "rbase": ["images/rbase/Dockerfile", "images/rbase/setup.R"],
    "mid": ["images/mid/Dockerfile", "images/mid/guide.md", "images/mid/start.sh"],
    "mid-tensorflow": ["images/tensorflow/Dockerfile", "images/tensorflow/requirements.txt"],
    "mid-rstudio": ["images/rstudio/Dockerfile", "images/rstudio/rserver.conf"],
    "mid-sas": ["images/sas/Dockerfile", "images/sas/sas.cfg"],
    **dict.fromkeys(CMD, CMD_READS),
}
UNSEEN = ["images/cmd/flavours/*.md"]
PARENT = {
    "base": None,
    "rbase": None,
    "mid": "base",
    "mid-tensorflow": "mid",
    "mid-rstudio": "rbase",
    "mid-sas": "mid",
    "jupyterlab-cpu": "mid",
    "jupyterlab-tensorflow": "mid-tensorflow",
    "rstudio": "mid-rstudio",
    "sas": "mid-sas",
}
TESTS = {
    "mid": ["tests/mid/"],
    "mid-tensorflow": ["tests/tensorflow/"],
    "jupyterlab-cpu": ["tests/general/"],
    "jupyterlab-tensorflow": ["tests/general/"],
    "rstudio": ["tests/general/", "tests/rstudio/"],
    "sas": ["tests/general/", "tests/sas/"],
}


def reads(target: str, path: str) -> bool:
    if any(fnmatch.fnmatch(path, pattern) for pattern in UNSEEN):
        return False
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in READS[target])


def rebuilt(direct: set[str]) -> set[str]:
    """The targets changed directly and every target built on one of them."""
    out = set(direct)
    grew = True
    while grew:
        grew = False
        for target, parent in PARENT.items():
            if parent in out and target not in out:
                out.add(target)
                grew = True
    return out


def expected(paths: list[str], bake_changed: set[str]) -> tuple[set[str], set[str]]:
    """(targets to build, targets to test) for a commit changing `paths`."""
    direct = {t for t in READS for p in paths if reads(t, p)} | bake_changed
    build = rebuilt(direct)
    test = {t for t in TESTS if t in build}
    for path in paths:
        if path.startswith("tests/") and path.count("/") == 1:  # shared setup: every test
            test |= set(TESTS)
        test |= {t for t, folders in TESTS.items() if any(path.startswith(f) for f in folders)}
    return build, test


@dataclasses.dataclass(frozen=True)
class Step:
    change: Callable[[Path], None]
    bake_changed: frozenset[str] = frozenset()  # targets whose definition the commit changes


def edit(*paths: str) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        for path in paths:
            file = repo / path
            write(repo, path, (file.read_text() if file.exists() else "") + "# edited\n")

    return change


def remove(path: str) -> Callable[[Path], None]:
    return lambda repo: (repo / path).unlink()


def rename(old: str, new: str) -> Callable[[Path], None]:
    return lambda repo: git(repo, "mv", old, new)


def bake_file(**values: str) -> Callable[[Path], None]:
    return lambda repo: write(repo, "docker-bake.hcl", bake_text(**values))


def replace_in_bake(old: str, new: str) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        text = (repo / "docker-bake.hcl").read_text()
        assert old in text
        write(repo, "docker-bake.hcl", text.replace(old, new))

    return change


HISTORY = [
    Step(edit("images/base/clean-layer.sh")),
    Step(edit("images/base/README.md")),
    Step(edit("images/rbase/setup.R")),
    Step(edit("images/mid/guide.md")),  # Markdown that the Dockerfile copies
    Step(edit("images/mid/notes.txt")),
    Step(edit("images/cmd/entrypoint.sh")),
    Step(edit("images/cmd/flavours/tensorflow.txt")),  # a new file in a copied folder
    Step(edit("images/cmd/flavours/notes.md")),  # excluded by .dockerignore
    Step(edit("images/cmd/README.md")),
    Step(edit("images/tensorflow/requirements.txt")),
    Step(edit("images/rstudio/rserver.conf")),  # folder named like target rstudio
    Step(edit("images/sas/sas.cfg")),  # folder named like target sas
    Step(edit("tests/sas/test_sas.py")),
    Step(edit("tests/mid/test_mid.py")),
    Step(edit("tests/general/test_general.py")),
    Step(edit("tests/conftest.py")),
    Step(edit("tests/orphan/test_orphan.py")),
    Step(edit("tests/rstudio/test_r.py")),
    Step(edit("tests/tensorflow/test_tf.py")),
    Step(bake_file(sas_flavour="sas9"), frozenset({"sas"})),
    Step(
        bake_file(jupyter="quay.io/jupyter/datascience-notebook:2025-01-01", sas_flavour="sas9"),
        frozenset({"base"}),
    ),
    Step(
        bake_file(
            jupyter="quay.io/jupyter/datascience-notebook:2025-01-01",
            rocker="rocker/rstudio:4.4.0",
            sas_flavour="sas9",
        ),
        frozenset({"rbase"}),
    ),
    Step(replace_in_bake('tags = ["mid"]', 'tags = ["mid", "mid:dev"]')),  # tags: the runner's
    Step(
        replace_in_bake('target "base"', 'group "finals" {\n  targets = ["sas"]\n}\ntarget "base"')
    ),
    Step(  # a mirroring contexts link: the same parent
        replace_in_bake(
            'args = { BASE_IMAGE = "mid-sas"',
            'contexts = { mid-sas = "target:mid-sas" }\n  args = { BASE_IMAGE = "mid-sas"',
        )
    ),
    Step(edit("images/cmd/.dockerignore")),
    Step(edit("images/sas/sas.cfg", "images/rbase/setup.R")),
    Step(edit("README.md", "docs/notes.md")),
    Step(rename("images/mid/notes.txt", "images/mid/notes2.txt")),
    Step(remove("images/cmd/flavours/tensorflow.txt")),
    Step(edit("images/mid/Dockerfile")),
    Step(edit("images/base/Dockerfile")),
    Step(replace_in_bake('FLAVOUR = "cpu"', 'FLAVOUR = "cpu2"'), frozenset({"jupyterlab-cpu"})),
    Step(edit("images/tensorflow/Dockerfile")),
    Step(edit("images/rbase/README.md")),
    Step(edit("images/sas/Dockerfile", "tests/sas/test_sas.py")),
    Step(edit("images/rstudio/Dockerfile", "tests/orphan/test_orphan.py")),
]


def sister(path: Path) -> Path:
    for relative, text in FILES.items():
        write(path, relative, text)
    write(path, "docker-bake.hcl", bake_text())
    git(path, "init", "-q", "-b", "master")
    commit_all(path, "the sister's shape")
    return path


def plan_of(repo: Path, base: str, **settings_values: str) -> plan.Plan:
    settings = dataclasses.replace(load(repo), **settings_values)
    graph = bakefile.load(settings.bake_path, environ={})
    return plan.make(settings, graph, changes.open_checkout(repo), base=base, environ={})


def test_every_commit_plans_as_the_table_says(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    commits = [git(repo, "rev-parse", "HEAD")]
    for number, step in enumerate(HISTORY, 1):
        step.change(repo)
        commits.append(commit_all(repo, f"step {number}"))
    assert len(commits) - 1 >= 30
    right, wrong = 0, []
    for number, (parent, commit) in enumerate(itertools.pairwise(commits), 1):
        git(repo, "checkout", "-q", "--detach", commit)
        paths = git(repo, "diff", "--name-only", parent, commit).splitlines()
        want = expected(paths, set(HISTORY[number - 1].bake_changed))
        made = plan_of(repo, parent)
        got = (set(made.build), set(made.test))
        if got == want:
            right += 1
        else:
            wrong.append((number, paths, want, got))
        assert any("tests/orphan/ names no target" in w for w in made.warnings)
    print(f"agreement: {right}/{len(commits) - 1}")
    assert wrong == []


def test_the_graph_of_the_sister_shape(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    graph = bakefile.load(repo / "docker-bake.hcl", environ={})
    assert {name: stage.parent for name, stage in graph.stages.items()} == PARENT
    assert sorted(graph.folders()["images/cmd"]) == CMD
    assert graph.resolve("sas") == ["sas"]  # the target, not the folder images/sas
    assert graph.resolve("rstudio") == ["rstudio"]
    assert graph.resolve("tensorflow") == ["mid-tensorflow"]  # a folder of one target
    assert graph.resolve("images/sas") == ["mid-sas"]  # the folder's path is unambiguous
    with pytest.raises(ZoneError) as caught:
        graph.resolve("cmd")
    message, listed = caught.value.message.split(": ")
    assert message == "'cmd' is a folder that builds several targets"
    assert sorted(listed.split(", ")) == CMD
    assert caught.value.hint == "name the target to build"


def test_a_folder_name_of_several_targets_on_the_command_line(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    result = run_tasks(repo, "bake", "--print", "cmd", env=clean_env())
    assert_one_clear_error(result, "'cmd' is a folder that builds several targets:", "rstudio")


def test_base_image_changes_only_the_roots_on_that_upstream(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    head = git(repo, "rev-parse", "HEAD")
    newer = "quay.io/jupyter/datascience-notebook:2025-01-01"
    made = plan_of(repo, head, base_image=newer)
    assert set(made.build) == rebuilt({"base"})
    assert made.stage("base").reasons == [f"--base-image {newer}"]
    assert f"base-image: builds base on {newer}; not rbase (another upstream)" in made.warnings

    made = plan_of(repo, head, base_image="rbase=rocker/rstudio:4.4.0")
    assert set(made.build) == {"rbase", "mid-rstudio", "rstudio"}

    made = plan_of(repo, head, base_image=f"rbase={ROCKER}")  # the same image: nothing
    assert made.build == []

    with pytest.raises(ZoneError) as caught:
        plan_of(repo, head, base_image="ubuntu:24.04")
    assert "no root stage is built on 'ubuntu'" in caught.value.message
    assert f"base (on {JUPYTER}), rbase (on {ROCKER})" in caught.value.hint
    assert "--base-image ROOT=ubuntu:24.04" in caught.value.hint

    with pytest.raises(ZoneError, match="'mid' is not a root stage"):
        plan_of(repo, head, base_image="mid=ubuntu:24.04")


def test_base_image_reaches_bake_for_those_roots_only(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    settings = dataclasses.replace(load(repo), base_image="rocker/rstudio:4.4.0")
    graph = bakefile.load(settings.bake_path, environ={})
    made = plan.make(settings, graph, changes.open_checkout(repo), base="HEAD", environ={})
    targets = graph.with_ancestors(["rstudio", "sas"])
    argv = bake.invocation(graph, made, settings, targets, {}, bake.BakeOptions(print_only=True))
    upstreams = [flag for flag in argv if ".args.BASE_IMAGE=" in flag and "=target" not in flag]
    assert "--set=rbase.args.BASE_IMAGE=rocker/rstudio:4.4.0" in argv
    assert not any(flag.startswith("--set=base.args.BASE_IMAGE") for flag in argv), upstreams


@pytest.mark.parametrize(
    ("dockerfile", "fragments"),
    [
        (
            "COPY entrypoint.sh /usr/local/bin/\n",  # its CI used to prepend the FROM
            [
                "target 'jupyterlab-cpu': its Dockerfile images/cmd/Dockerfile has no FROM",
                "put at its top: ARG BASE_IMAGE then FROM ${BASE_IMAGE} "
                "(BASE_IMAGE = 'mid' names target 'mid')",
            ],
        ),
        (
            "FROM ubuntu:24.04\nCOPY entrypoint.sh /usr/local/bin/\n",
            [
                "target 'jupyterlab-cpu': BASE_IMAGE = 'mid' names target 'mid', but no FROM "
                "of images/cmd/Dockerfile reads BASE_IMAGE",
                "ARG BASE_IMAGE then FROM ${BASE_IMAGE}",
            ],
        ),
    ],
    ids=["no FROM", "a FROM that reads no arg"],
)
def test_a_dockerfile_that_cannot_build_on_its_parent_is_one_error(
    tmp_path: Path, dockerfile: str, fragments: list[str]
) -> None:
    repo = sister(tmp_path / "sister")
    write(repo, "images/cmd/Dockerfile", dockerfile)
    commit_all(repo, "no FROM")
    assert_one_clear_error(run_tasks(repo, "plan", env=clean_env()), *fragments)


def test_this_repository_has_no_orphan_tests() -> None:
    root = PROJECT
    settings = load(root)
    graph = bakefile.load(settings.bake_path, environ={})
    assert plan.orphan_tests(settings, graph) == []
    assert shutil.which("git")  # the history test needs it as much as the runner


def test_targets_of_one_folder_are_jobs_and_images_of_their_own(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    base = git(repo, "rev-parse", "HEAD")
    edit("images/cmd/entrypoint.sh", "images/mid/start.sh")(repo)
    commit_all(repo, "the entrypoint of the four final images, and mid")
    made = plan_of(repo, base, registry="localhost:5000/team")
    levels = [sorted(level) for level in made.levels()]
    assert levels == [  # rstudio's parents are not rebuilt: it starts at once
        ["mid", "rstudio"],
        ["jupyterlab-cpu", "mid-sas", "mid-tensorflow"],
        ["jupyterlab-tensorflow", "sas"],
    ]
    outputs = made.github_outputs(6)
    jobs = [job for n in (1, 2, 3) for job in json.loads(outputs[f"level{n}"])["include"]]
    assert {job["stage"]: job["context"] for job in jobs if job["context"] == "images/cmd"} == {
        name: "images/cmd" for name in CMD
    }
    assert {job["stage"]: job["parent"] for job in jobs if job["stage"] in CMD} == {
        name: PARENT[name] for name in CMD
    }
    assert all(job["test"] for job in jobs if job["stage"] in CMD)
    for name in CMD:
        assert made.stage(name).tags[0].startswith(f"localhost:5000/team/{name}:")


VARIANTS = """
target "tf-cpu" {
  context = "images/tf"
  args = { BASE_IMAGE = "mid" }
}
target "tf-gpu" {
  context = "images/tf"
  dockerfile = "Dockerfile.gpu"
  args = { BASE_IMAGE = "mid" }
}
target "tf-slim" {
  context = "images/tf"
  target = "slim"
  args = { BASE_IMAGE = "mid" }
}
"""


def test_variants_by_dockerfile_or_build_target_read_their_own_files(tmp_path: Path) -> None:
    repo = sister(tmp_path / "sister")
    write(repo, "docker-bake.hcl", bake_text() + VARIANTS)
    stages = FROM + "COPY requirements.txt /tmp/\nFROM ${BASE_IMAGE} AS slim\n"
    write(repo, "images/tf/Dockerfile", stages)
    write(repo, "images/tf/Dockerfile.gpu", FROM + "COPY requirements.txt cuda.txt /tmp/\n")
    write(repo, "images/tf/requirements.txt", "tensorflow\n")
    write(repo, "images/tf/cuda.txt", "cuda\n")
    start = commit_all(repo, "three variants of one folder")
    expectations = {
        "images/tf/Dockerfile.gpu": {"tf-gpu"},
        "images/tf/cuda.txt": {"tf-gpu"},
        "images/tf/Dockerfile": {"tf-cpu", "tf-slim"},
        "images/tf/requirements.txt": {"tf-cpu", "tf-gpu", "tf-slim"},
    }
    for path, wanted in expectations.items():
        edit(path)(repo)
        commit = commit_all(repo, f"edit {path}")
        assert set(plan_of(repo, start).build) == wanted, path
        start = commit
    graph = bakefile.load(repo / "docker-bake.hcl", environ={})
    assert [graph.stages[n].parent for n in ("tf-cpu", "tf-gpu", "tf-slim")] == ["mid"] * 3
    with pytest.raises(ZoneError, match=r"builds several targets: tf-cpu, tf-gpu, tf-slim"):
        graph.resolve("tf")
