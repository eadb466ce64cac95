"""The plan as a model, in plain unit tests: no engine, no registry, no subprocess but git.

Git repositories are real ones in temporary folders. The registry is the one stand-in:
reuse asks it through `tasks.reuse.Lookups` (our own seam, which tasks.engine.Lookups
answers against a real registry in test_bake.py and test_retag.py), and here a small
in-memory `Registry` of the same interface answers, so every rule of which image may be
taken is checked without an image (with verify-reuse off: signatures need cosign and a
registry, test_verified_reuse.py). Push order has its unit tests beside the tag policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from tasks import bake, bakefile, changes, plan, reuse
from tasks.console import ZoneError
from tasks.engine import REVISION_LABEL
from tasks.plan import Action
from tasks.settings import Settings, load
from tasks.tests.support import commit_all, git, make_stack, write

SERVED = ["jupyterlab-cpu", "sas"]


def make_plan(repo: Path, base: str = "master") -> plan.Plan:
    settings = load(repo)
    graph = bakefile.load(settings.bake_path, environ={})
    return plan.make(settings, graph, changes.open_checkout(repo), base=base, environ={})


def stage_plan(name: str, parents: list[str], action: Action, served: bool = False):
    return plan.StagePlan(
        name=name,
        context=f"images/{name}",
        parent=parents[0] if parents else None,
        parents=parents,
        served=served,
        changed=action == Action.BUILD,
        reasons=[],
        action=action,
        tags=[f"r/{name}:feature"],
    )


SHA = "c0ffee" + "0" * 34
# base (reused) -> mid (built) -> lab (built, tested) and sas (reused, its tests changed)
HAND_MADE = plan.Plan(
    base_ref="origin/master",
    base_branch="master",
    merge_base="b" * 40,
    branch="feature",
    sha=SHA,
    stages=[
        stage_plan("base", [], Action.REUSE),
        stage_plan("mid", ["base"], Action.BUILD),
        stage_plan("lab", ["mid"], Action.BUILD, served=True),
        stage_plan("sas", ["mid"], Action.REUSE, served=True),
    ],
    test=["lab", "sas"],
    notes=[],
    warnings=[],
    committed=True,
)


# --- the model's types ------------------------------------------------------------------


def test_an_action_is_its_string_in_json_and_text() -> None:
    assert [a.value for a in Action] == ["build", "reuse"]
    assert Action("build") is Action.BUILD
    assert json.dumps([Action.BUILD, Action.REUSE]) == '["build", "reuse"]'
    assert str(Action.REUSE) == "reuse" and f"{Action.BUILD}" == "build"
    document = json.loads(HAND_MADE.to_json())
    assert [s["action"] for s in document["stages"]] == ["reuse", "build", "build", "reuse"]


def test_stages_are_found_by_name_and_a_bad_name_is_one_clear_error() -> None:
    assert HAND_MADE.stage("lab").parents == ["mid"]
    with pytest.raises(ZoneError) as raised:
        HAND_MADE.stage("labb")
    assert raised.value.message == "no stage 'labb' in the plan"
    assert raised.value.hint == "the plan's stages: base, mid, lab, sas"
    assert HAND_MADE.named(Action.BUILD) == HAND_MADE.build == ["mid", "lab"]
    assert HAND_MADE.named(Action.REUSE) == HAND_MADE.reuse == ["base", "sas"]
    assert HAND_MADE.retest == ["sas"]


def test_descendants_come_in_build_order_with_the_stages_named() -> None:
    text = "".join(
        f'target "{name}" {{\n  context = "images/{name}"\n{links}}}\n'
        for name, links in [
            ("root", ""),
            ("left", '  contexts = { root = "target:root" }\n'),
            ("right", '  contexts = { root = "target:root" }\n'),
            ("join", '  contexts = { l = "target:left", r = "target:right" }\n'),
            ("other", ""),
        ]
    )
    graph = bakefile.parse(text, "docker-bake.hcl", {})
    assert graph.with_descendants(["right"]) == ["right", "join"]
    assert graph.with_descendants(["join", "root"]) == ["root", "left", "right", "join"]
    assert graph.with_descendants(iter(["other"])) == ["other"]
    assert graph.with_descendants([]) == []


# --- the plan of a change ---------------------------------------------------------------


def test_a_changed_parent_builds_its_descendants_and_says_why(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/mid/stage.txt", "mid 2\n")
    sha = commit_all(repo, "mid changes")
    result = make_plan(repo)
    assert result.build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    assert result.reuse == ["base"]
    assert result.test == SERVED
    reasons = {s.name: s.reasons for s in result.stages}
    assert reasons == {
        "base": [],
        "mid": ["images/mid/stage.txt (COPY, Dockerfile:4)"],
        "sas-kernel": ["parent mid is rebuilt"],
        "jupyterlab-cpu": ["parent sas-kernel is rebuilt"],
        "sas": ["parent sas-kernel is rebuilt"],
    }
    assert [s.changed for s in result.stages] == [False, True, True, True, True]
    assert (result.sha, result.committed, result.base_branch) == (sha, True, "master")


def test_a_module_beside_the_stage_test_folders_retests_every_stage(tmp_path: Path) -> None:
    """tests/tracked_container.py (or conftest.py) runs under every stage's tests."""
    repo = make_stack(tmp_path / "stack")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "tests/tracked_container.py", "LOG_LINES = 80\n")
    commit_all(repo, "more log lines")
    result = make_plan(repo)
    assert (result.build, result.test, result.retest) == ([], SERVED, SERVED)
    write(repo, "tests/README.md", "# image tests\n")  # beside them, but no module
    commit_all(repo, "a readme")
    assert make_plan(repo, base="HEAD~1").test == []


# --- what the plan hands on -------------------------------------------------------------


def test_github_outputs_are_these_exact_strings() -> None:
    mid = '{"stage":"mid","parent":"base","context":"images/mid","test":false}'
    lab = '{"stage":"lab","parent":"mid","context":"images/lab","test":true}'
    assert HAND_MADE.github_outputs(6) == {
        "build": '["mid","lab"]',
        "test": '["lab","sas"]',
        "reuse": '["base","sas"]',
        "retest": '["sas"]',
        "sha": SHA,
        "matrix": f'{{"include":[{mid},{lab}]}}',
        "level1": f'{{"include":[{mid}]}}',
        "level2": f'{{"include":[{lab}]}}',
        "level3": "",
        "level4": "",
        "level5": "",
        "level6": "",
    }


def chain_plan(length: int) -> plan.Plan:
    names = [f"s{n}" for n in range(length)]
    chain = [stage_plan(n, names[i - 1 : i], Action.BUILD) for i, n in enumerate(names)]
    return dataclasses.replace(HAND_MADE, stages=chain, test=[])


def test_more_build_levels_than_the_workflow_has_is_one_clear_error() -> None:
    with pytest.raises(ZoneError, match="form 7 levels, but the workflow builds at most 6") as e:
        chain_plan(7).github_outputs(6)
    assert "ci-levels" in str(e.value)
    assert e.value.hint is not None
    assert "add jobs build-7 to .github/workflows/docker.yaml" in e.value.hint
    assert "set ci-levels = 7 under [tool.zone]" in e.value.hint


def test_a_graph_deeper_than_six_plans_as_deep_as_the_setting_allows() -> None:
    outputs = chain_plan(8).github_outputs(9)
    levels = [key for key in outputs if key.startswith("level")]
    assert levels == [f"level{n}" for n in range(1, 10)]  # as many as the workflow's jobs
    assert json.loads(outputs["level8"])["include"][0]["stage"] == "s7"
    assert outputs["level9"] == ""


def test_the_bake_invocation_for_a_built_and_a_reused_parent(tmp_path: Path) -> None:
    """mid is built on base from the registry; leaf on mid built in the same bake."""
    text = (
        'target "base" {\n  context = "images/base"\n}\n'
        'target "mid" {\n  context = "images/mid"\n  contexts = { base = "target:base" }\n'
        '  args = { BASE_IMAGE = "base" }\n}\n'
        'target "leaf" {\n  context = "images/leaf"\n  args = { BASE_IMAGE = "mid" }\n}\n'
    )
    graph = bakefile.parse(text, "docker-bake.hcl", {})
    stages = [
        stage_plan("base", [], Action.REUSE),
        stage_plan("mid", ["base"], Action.BUILD),
        stage_plan("leaf", ["mid"], Action.BUILD, served=True),
    ]
    the_plan = dataclasses.replace(HAND_MADE, stages=stages, test=["leaf"])
    settings = Settings(root=tmp_path, registry="r")
    options = bake.BakeOptions(
        push=True, secrets=("id=key,env=KEY",), registry_cache=True, raw=("--progress=plain",)
    )
    targets = bake.select(graph, the_plan, [], changed_only=True)
    assert targets == ["mid", "leaf"]
    argv = bake.invocation(graph, the_plan, settings, targets, {"base": "r/base:b"}, options)
    label = f"labels.{REVISION_LABEL}={SHA}"
    cache = "type=registry,ref=r/{}:buildcache-{}"
    assert argv == [
        *("docker", "buildx", "bake", "--file", str(tmp_path / "docker-bake.hcl"), "--push"),
        "--set=mid.tags=r/mid:feature",
        f"--set=mid.{label}",
        "--set=mid.args.BASE_IMAGE=base",
        "--set=mid.contexts.base=docker-image://r/base:b",
        "--set=mid.secrets=id=key,env=KEY",
        f"--set=mid.cache-from={cache.format('mid', 'feature')}",
        f"--set=mid.cache-from={cache.format('mid', 'master')}",
        f"--set=mid.cache-to={cache.format('mid', 'feature')},mode=max",
        "--set=leaf.tags=r/leaf:feature",
        f"--set=leaf.{label}",
        "--set=leaf.args.BASE_IMAGE=mid",
        "--set=leaf.contexts.mid=target:mid",
        "--set=leaf.secrets=id=key,env=KEY",
        f"--set=leaf.cache-from={cache.format('leaf', 'feature')}",
        f"--set=leaf.cache-from={cache.format('leaf', 'master')}",
        f"--set=leaf.cache-to={cache.format('leaf', 'feature')},mode=max",
        "--progress=plain",
        "mid",
        "leaf",
    ]
    dirty = dataclasses.replace(the_plan, committed=False)
    argv = bake.invocation(graph, dirty, settings, ["mid"], {}, bake.BakeOptions())
    assert argv[5] == "--load"
    assert f"--set=mid.{label}-dirty" in argv  # a dirty tree's label names no commit
    assert "--set=mid.contexts.base=target:base" not in argv  # the file's own link serves


# --- reuse, with the registry answered in memory ----------------------------------------


@dataclasses.dataclass
class Registry:
    """A stand-in for the registry behind tasks.reuse.Lookups (our own seam): image
    reference -> its revision label (None: an image without one)."""

    images: dict[str, str | None]
    asked: list[str] = dataclasses.field(default_factory=list)

    def digest(self, ref: str) -> str | None:
        self.asked.append(ref)
        return served(ref) if ref in self.images else None

    def revision(self, ref: str) -> str | None:
        """Asked by digest only: reuse reads the label of the image it found."""
        by_digest = {pinned(tagged): label for tagged, label in self.images.items()}
        return by_digest[ref]


def served(ref: str) -> str:
    """The digest the stand-in registry serves for `ref`: one of its own a tag."""
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def pinned(ref: str) -> str:
    """REPO@DIGEST of what `ref` serves: how reuse hands a parent to bake."""
    return f"{ref.rsplit(':', 1)[0]}@{served(ref)}"


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, str, str, str]:
    """master: the stack (first), then mid changes (second); feature: sas changes (head)."""
    repo = make_stack(tmp_path / "stack")
    first = git(repo, "rev-parse", "HEAD")
    write(repo, "images/mid/stage.txt", "mid 2\n")
    second = commit_all(repo, "mid changes")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "images/sas/stage.txt", "sas 2\n")
    head = commit_all(repo, "sas changes")
    return repo, first, second, head


def reuse_of(repo: Path, registry: Registry) -> reuse.Reuse:
    # Signatures off: which image is signed is test_verified_reuse.py's subject (cosign).
    settings = Settings(root=repo, registry="r", verify_reuse=False)
    graph = bakefile.load(settings.bake_path, environ={})
    checkout = changes.open_checkout(repo)
    the_plan = plan.make(settings, graph, checkout, base="master", environ={})
    return reuse.Reuse(settings, graph, the_plan, registry, checkout)


def test_an_unchanged_parent_comes_from_the_merge_base_tag(history) -> None:
    repo, _, second, _ = history
    registry = Registry({f"r/sas-kernel:{second}": second})
    finder = reuse_of(repo, registry)
    assert [s.ref for s in finder.sources("sas-kernel")] == [
        f"r/sas-kernel:{second}",
        "r/sas-kernel:master",
        "r/sas-kernel:feature",
    ]
    assert finder.parents(["sas"]) == (["sas"], {"sas-kernel": pinned(f"r/sas-kernel:{second}")})
    assert registry.asked == [f"r/sas-kernel:{second}"]  # found: its parents are not asked


def test_an_image_is_taken_only_when_its_label_names_a_commit_with_our_inputs(
    history,
) -> None:
    repo, first, second, _ = history
    registry = Registry(
        {
            f"r/mid:{second}": f"{second}-dirty",  # uncommitted files
            "r/mid:master": first,  # mid changed after it
            "r/mid:feature": None,  # no label
            f"r/sas-kernel:{second}": "f" * 40,  # no commit of this repository
            "r/base:master": first,  # base has not changed since: good
        }
    )
    finder = reuse_of(repo, registry)
    assert finder.find("mid") is None
    why = finder.sources("base")[1].why
    assert finder.find("base") == reuse.Source("r/base:master", why, served("r/base:master"))
    to_build, reused = finder.parents(["jupyterlab-cpu"])
    assert to_build == ["mid", "sas-kernel", "jupyterlab-cpu"]
    assert reused == {"base": pinned("r/base:master")}


def test_a_changed_parent_comes_only_from_this_commits_build(history) -> None:
    repo, _, second, _ = history
    git(repo, "checkout", "-q", "-b", "kernel")
    write(repo, "images/sas_kernel/stage.txt", "kernel 2\n")
    head = commit_all(repo, "kernel changes")
    finder = reuse_of(repo, Registry({f"r/sas-kernel:{head}": head}))
    assert [s.ref for s in finder.sources("sas-kernel")] == [f"r/sas-kernel:{head}"]
    assert finder.parents(["sas"]) == (["sas"], {"sas-kernel": pinned(f"r/sas-kernel:{head}")})
    write(repo, "images/sas_kernel/stage.txt", "kernel 3\n")  # uncommitted: another image
    finder = reuse_of(repo, Registry({f"r/sas-kernel:{head}": head, f"r/mid:{second}": second}))
    assert finder.sources("sas-kernel") == []
    assert finder.parents(["sas"]) == (["sas-kernel", "sas"], {"mid": pinned(f"r/mid:{second}")})
