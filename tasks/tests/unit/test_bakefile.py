"""Reading docker-bake.hcl: the graph, bake's variable rules, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.console import ZoneError
from tasks.stack import bakefile
from tasks.tests.support import PROJECT, make_stack

CHAIN = """
variable "UP" { default = "debian:12" }
variable "SUFFIX" { default = "${UP}-x" }
target "a" {
  context = "images/a"
  args = { BASE_IMAGE = "${UP}" }
  tags = ["r/a:${SUFFIX}"]
}
target "b" {
  context = "images/b"
  contexts = { a = "target:a" }
  args = { BASE_IMAGE = "a" }
}
"""


def parse(text: str, **environ: str) -> bakefile.BakeGraph:
    return bakefile.parse(text, "test.hcl", environ)


def test_the_repository_graph() -> None:
    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})
    assert list(graph.stages) == ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    assert {n: s.parent for n, s in graph.stages.items()} == {
        "base": None,
        "mid": "base",
        "sas-kernel": "mid",
        "jupyterlab-cpu": "sas-kernel",
        "sas": "sas-kernel",
    }
    assert graph.stages["sas-kernel"].context == "images/sas_kernel"
    assert graph.stages["jupyterlab-cpu"].context == "images/jupyterlab"
    assert graph.groups["default"] == ("jupyterlab-cpu", "sas")
    upstream = graph.stages["base"].definition["args"]["BASE_IMAGE"]
    assert upstream.startswith("quay.io/jupyter/datascience-notebook:")


def test_the_upstream_pin_lives_in_one_place() -> None:
    pin = bakefile.load(PROJECT / "docker-bake.hcl", environ={}).stages["base"]
    # The reference's tag, as a reference writes it (a date in prose is no second pin).
    tag = ":" + pin.definition["args"]["BASE_IMAGE"].rsplit(":", 1)[1]
    holders = [
        path.relative_to(PROJECT).as_posix()
        for path in PROJECT.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and ".nox" not in path.parts
        and path.suffix not in (".pyc",)
        and tag in path.read_text(errors="ignore")
    ]
    # docs/pins.md is generated from the bake file's pin (`nox -s docs`; lint fails when stale)
    assert [h for h in holders if h != "docs/pins.md"] == ["docker-bake.hcl"]


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("jupyterlab", "jupyterlab-cpu"),
        ("jupyterlab-cpu", "jupyterlab-cpu"),
        ("sas_kernel", "sas-kernel"),
        ("sas-kernel", "sas-kernel"),
        ("images/mid/", "mid"),
    ],
)
def test_image_names_and_folder_names(name: str, stage: str) -> None:
    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})
    assert graph.resolve(name) == [stage]


def test_groups_resolve_to_their_targets() -> None:
    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})
    assert graph.resolve("default") == ["jupyterlab-cpu", "sas"]


def test_unknown_image_suggests_the_closest() -> None:
    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})
    with pytest.raises(ZoneError) as caught:
        graph.resolve("jupyterlabb")
    assert caught.value.message == "unknown image 'jupyterlabb'; did you mean 'jupyterlab-cpu'?"
    assert "base, mid, sas-kernel, jupyterlab-cpu, sas" in caught.value.hint


def test_variables_defaults_and_environment() -> None:
    graph = parse(CHAIN)
    assert graph.stages["a"].tags == ("r/a:debian:12-x",)
    overridden = parse(CHAIN, UP="ubuntu:24.04")
    assert overridden.stages["a"].definition["args"]["BASE_IMAGE"] == "ubuntu:24.04"
    assert overridden.stages["a"].tags == ("r/a:ubuntu:24.04-x",)


def test_inherits_and_escapes() -> None:
    graph = parse(
        CHAIN
        + """
target "common" { labels = { team = "zone" } }
target "c" {
  inherits = ["common"]
  context = "images/c"
  labels = { literal = "$${NOT_A_VAR}", quote = "say \\"hi\\"" }
}
"""
    )
    assert graph.stages["c"].definition["labels"] == {
        "team": "zone",
        "literal": "${NOT_A_VAR}",
        "quote": 'say "hi"',
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('target "a" {\n  context = \n}\n', "test.hcl:2:13: not valid HCL"),
        (
            'function "f" {\n params = []\n result = 1\n}\n',
            "test.hcl:1: `function` is not supported",
        ),
        ('target "a" {\n  tags = [upper("x")]\n}\n', 'cannot resolve expression `upper("x")`'),
        ('target "a" {\n  tags = ["${upper(X)}"]\n}\n', "test.hcl:1: cannot resolve `${upper(X)}`"),
        ('target "a" {\n  tags = ["${NOPE}"]\n}\n', "unknown variable 'NOPE'"),
        (
            'variable "A" { default = "${B}" }\nvariable "B" { default = "${A}" }\n'
            'target "x" { tags = ["${A}"] }\n',
            "loop: A -> B -> A",
        ),
        ('target "a" {\n contexts = { z = "target:zz" }\n}\n', "links to unknown target 'zz'"),
        ('target "a" {\n context = "target:b"\n}\n', "must have a local folder as context"),
        ('group "g" { targets = ["nope"] }\n', "group 'g' names unknown target 'nope'"),
        ('target "a" {\n  matrix = { x = ["1"] }\n}\n', "uses `matrix`"),
    ],
)
def test_refusals_name_the_file_and_problem(text: str, message: str) -> None:
    with pytest.raises(ZoneError) as caught:
        parse(text)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('target "x" { tags = "abc" }', "target 'x': tags must be a list of strings"),
        ('target "x" { contexts = "x" }', "target 'x': contexts must be a map of strings"),
        ('target { context = "a" }', 'every target block needs a name: target "NAME"'),
        ('target "x" { context = "../other" }', "'../other' is outside the project folder"),
        ('target "x" { context = "/abs" }', "must be relative to the bake file's folder"),
        (
            'variable "A" { default = f(1) }\ntarget "x" { tags = ["${A}"] }',
            "test.hcl:1: variable 'A': cannot resolve expression",
        ),
    ],
)
def test_wrong_shapes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ZoneError) as caught:
        parse(text)
    assert message in caught.value.message


def test_values_as_bake_renders_them() -> None:
    graph = parse(
        'variable "L" { default = ["a", "b"] }\n'
        'variable "N" { default = null }\n'
        'target "x" {\n'
        '  tags = "${L}"\n'
        '  labels = { n = "${N}", u = "caf\\u00e9", p = "%%{x}",\n'
        "    h = <<-EOT\n      one \\n\n      two\n    EOT\n  }\n}\n"
    )
    stage = graph.stages["x"]
    assert stage.tags == ("a", "b")
    assert stage.definition["labels"] == {"n": "", "u": "café", "p": "%{x}", "h": "one \\n\ntwo\n"}


def test_templates_and_repeated_blocks() -> None:
    graph = parse(
        'target "_common" { labels = { team = "zone" } }\n'
        'target "x" {\n  inherits = ["_common"]\n  context = "a"\n}\n'
        'target "x" { dockerfile = "Other.Dockerfile" }\n'
    )
    assert list(graph.stages) == ["x"]  # _common only lends its attributes
    assert graph.stages["x"].dockerfile == "a/Other.Dockerfile"
    assert graph.stages["x"].definition["labels"] == {"team": "zone"}


def test_a_cycle_between_stages_is_refused() -> None:
    text = """
target "a" {
  contexts = { b = "target:b" }
}
target "b" {
  contexts = { a = "target:a" }
}
"""
    with pytest.raises(ZoneError, match=r"cycle between stages: (a -> b -> a|b -> a -> b)"):
        parse(text)


# --- parents however the bake file says them ---------------------------------------------

ARGS_ONLY = """
variable "REPO" { default = "zone" }
target "base" {
  context = "./images/base"
  args = { BASE_IMAGE = "quay.io/jupyter/datascience-notebook:2025-08-15" }
  tags = ["base"]
}
target "mid" {
  context = "./images/mid"
  args = { BASE_IMAGE = "base" }
  tags = ["${REPO}/mid:dev"]
}
target "sas" {
  context = "./images/sas"
  args = { BASE_IMAGE = "zone/mid:dev", LABEL = "base" }
  tags = ["sas"]
}
"""
FROM_BASE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS build\nLABEL x=${LABEL}\n"


def stack_of(tmp_path, text: str, **dockerfiles: str) -> bakefile.BakeGraph:
    for folder, body in dockerfiles.items():
        (tmp_path / "images" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "images" / folder / "Dockerfile").write_text(body)
    return bakefile.parse(text, "docker-bake.hcl", {}, tmp_path)


def test_build_args_naming_a_target_by_name_or_tag_are_parents(tmp_path) -> None:
    graph = stack_of(tmp_path, ARGS_ONLY, base=FROM_BASE, mid=FROM_BASE, sas=FROM_BASE)
    assert {n: s.parents for n, s in graph.stages.items()} == {
        "base": (),
        "mid": ("base",),
        "sas": ("mid",),  # LABEL = "base" is no parent: no FROM uses it
    }
    assert graph.stages["sas"].links == (bakefile.Link("mid", None, "BASE_IMAGE"),)
    assert graph.warnings == ()


def test_without_the_dockerfile_any_arg_naming_a_target_links(tmp_path) -> None:
    graph = bakefile.parse(ARGS_ONLY, "docker-bake.hcl", {})
    assert graph.stages["sas"].parents == ("mid", "base")


def test_mirroring_contexts_links_change_no_definition(tmp_path) -> None:
    before = stack_of(tmp_path, ARGS_ONLY, base=FROM_BASE, mid=FROM_BASE, sas=FROM_BASE)
    migrated = ARGS_ONLY.replace(
        'args = { BASE_IMAGE = "base" }',
        'contexts = { base = "target:base" }\n  args = { BASE_IMAGE = "base" }',
    ).replace('"zone/mid:dev", LABEL', '"${REPO}/mid:dev", LABEL')
    after = bakefile.parse(migrated, "docker-bake.hcl", {}, tmp_path)
    assert after.stages["mid"].links == (bakefile.Link("base", "base", "BASE_IMAGE"),)
    for name in before.stages:
        assert before.stages[name].comparable() == after.stages[name].comparable()


def test_a_context_link_and_an_arg_that_disagree_is_an_error(tmp_path) -> None:
    text = ARGS_ONLY.replace(
        'args = { BASE_IMAGE = "zone/mid:dev"',
        'contexts = { mid = "target:base" }\n  args = { BASE_IMAGE = "mid"',
    )
    with pytest.raises(ZoneError) as caught:
        stack_of(tmp_path, text, base=FROM_BASE, mid=FROM_BASE, sas=FROM_BASE)
    assert caught.value.message.startswith("docker-bake.hcl:13: target 'sas': BASE_IMAGE")
    assert "names target 'mid', but contexts maps 'mid' to 'target:base'" in caught.value.message
    assert 'contexts = { mid = "target:mid" }' in caught.value.hint


def test_an_arg_naming_two_targets_is_an_error(tmp_path) -> None:
    text = ARGS_ONLY.replace('tags = ["sas"]', 'tags = ["sas", "base"]')
    text += 'target "leaf" {\n  context = "./images/leaf"\n  args = { BASE_IMAGE = "base" }\n}\n'
    with pytest.raises(ZoneError, match="names more than one target: base, sas"):
        stack_of(tmp_path, text, base=FROM_BASE, mid=FROM_BASE, sas=FROM_BASE, leaf=FROM_BASE)


def test_a_bare_name_that_is_no_target_is_a_warning(tmp_path) -> None:
    text = ARGS_ONLY.replace('"zone/mid:dev", LABEL', '"sas-kernel", LABEL')
    graph = stack_of(tmp_path, text, base=FROM_BASE, mid=FROM_BASE, sas=FROM_BASE)
    assert graph.stages["sas"].parents == ()
    assert len(graph.warnings) == 1
    assert "BASE_IMAGE = 'sas-kernel' names no target and no registry" in graph.warnings[0]
    assert "Docker Hub" in graph.warnings[0]


def test_an_arg_spelled_as_a_tag_beside_a_context_link_of_another_key_links_both(
    tmp_path,
) -> None:
    """`contexts = { parent = "target:base" }` with `BASE_IMAGE = "zone/base:dev"`: the FROM
    reads no named context, so bake must be told to (the arg is set to the context's key)."""
    text = (
        'target "base" {\n  context = "images/base"\n  tags = ["zone/base:dev"]\n}\n'
        'target "mid" {\n  context = "images/mid"\n  contexts = { parent = "target:base" }\n'
        '  args = { BASE_IMAGE = "zone/base:dev" }\n}\n'
    )
    graph = stack_of(tmp_path, text, base=FROM_BASE, mid=FROM_BASE)
    assert graph.stages["mid"].links == (bakefile.Link("base", "parent", "BASE_IMAGE"),)
    args_only = stack_of(tmp_path, text.replace('  contexts = { parent = "target:base" }\n', ""))
    assert graph.stages["mid"].comparable() == args_only.stages["mid"].comparable()


@pytest.mark.parametrize(
    "damage",
    # each was a traceback (TypeError, AttributeError) or "no targets to build"
    [b"[1, 2]", b'{"target": 5}', b'{"variable": [5]}', b"{}", b"\xff", b'{"sha256": "x", "hcl'],
)
def test_a_damaged_parse_cache_entry_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = make_stack(tmp_path / "stack")
    first = bakefile.load(repo / "docker-bake.hcl")
    (entry,) = (tmp_path / "cache" / "zone-kubeflow-containers" / bakefile.CACHE_FORMAT).iterdir()
    entry.write_bytes(damage)
    again = bakefile.load(repo / "docker-bake.hcl")
    assert {n: s.parents for n, s in again.stages.items()} == {
        n: s.parents for n, s in first.stages.items()
    }
    assert set(json.loads(entry.read_text())) == {"sha256", "hcl"}  # written anew, whole


def _site(folder: Path, grammar: str, script: str) -> Path:
    """A venv's site-packages with python-hcl2 and lark as their wheels install them: a
    RECORD lists the package's files and the venv's own scripts."""
    (folder / "hcl2").mkdir(parents=True)
    (folder / "hcl2" / "__init__.py").write_text("")
    for wheel, package in (("python_hcl2-8.1.4", "hcl2"), ("lark-1.2.2", "lark")):
        (folder / f"{wheel}.dist-info").mkdir()
        (folder / f"{wheel}.dist-info" / "RECORD").write_text(
            f"../../../bin/tool,sha256={script},299\n{package}/grammar.lark,sha256={grammar},100\n"
        )
    return folder


def test_the_parse_cache_is_shared_by_venvs_of_the_same_wheels_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh venv (a CI job's) reads what another venv cached; another python-hcl2 or
    lark (a file of theirs with another hash) reads anew."""
    import importlib.util

    def stamp(site: Path) -> str:
        spec = importlib.machinery.ModuleSpec("hcl2", None, origin=str(site / "hcl2/__init__.py"))
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
        return bakefile._parser_stamp()

    one = stamp(_site(tmp_path / "one", grammar="AAA", script="venv-one"))
    assert stamp(_site(tmp_path / "two", grammar="AAA", script="venv-two")) == one
    assert stamp(_site(tmp_path / "three", grammar="BBB", script="venv-one")) != one
