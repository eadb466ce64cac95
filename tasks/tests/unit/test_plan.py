"""The plan in throwaway git repositories: which stages build, which are retested, tags."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from tasks.checkout import changes
from tasks.console import ZoneError
from tasks.planning import plan, tags
from tasks.settings import load
from tasks.stack import bakefile
from tasks.tests.support import PROJECT, commit_all, git, write

ALL = ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def make_plan(repo: Path, base: str | None = "master", environ=None, everything=False):
    settings = load(repo)
    graph = bakefile.load(settings.bake_path, environ={})
    checkout = changes.open_checkout(repo)
    return plan.make(
        settings, graph, checkout, base=base, everything=everything, environ=environ or {}
    )


def on_branch(repo: Path, name: str = "feature") -> Path:
    git(repo, "checkout", "-q", "-b", name)
    return repo


def edit_bake_file(repo: Path, old: str, new: str) -> None:
    path = repo / "docker-bake.hcl"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def sas_gets_a_build_arg(repo: Path) -> None:
    edit_bake_file(
        repo,
        'args     = { BASE_IMAGE = "sas-kernel" }\n  tags     = ["${REPO}/sas:${TAG}"]',
        'args     = { BASE_IMAGE = "sas-kernel", EXTRA = "1" }\n  tags = ["${REPO}/sas:${TAG}"]',
    )


def new_target(repo: Path) -> None:
    with (repo / "docker-bake.hcl").open("a") as handle:
        handle.write(
            '\ntarget "rstudio" {\n  context = "images/rstudio"\n'
            '  contexts = { mid = "target:mid" }\n  args = { BASE_IMAGE = "mid" }\n}\n'
        )
    write(repo, "images/rstudio/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")


SERVED = ["jupyterlab-cpu", "sas"]


def test_reasons_name_the_paths_and_the_parent(stack: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas_kernel/stage.txt", "2\n")
    write(stack, "images/sas_kernel/notes.txt", "nothing copies this\n")
    result = make_plan(stack)
    assert result.stage("sas-kernel").reasons == [
        "images/sas_kernel/stage.txt (COPY, Dockerfile:4)"
    ]
    assert result.stage("sas").reasons == ["parent sas-kernel is rebuilt"]
    assert result.stage("mid").reasons == []
    assert result.stage("mid").action == plan.Action.REUSE


def test_staged_unstaged_and_untracked_all_count(stack: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas/stage.txt", "staged\n")
    git(stack, "add", "images/sas/stage.txt")
    write(stack, "images/jupyterlab/stage.txt", "unstaged\n")
    write(stack, "images/base/bin/untracked.sh")
    write(stack, "images/base/bin/ignored.log")
    write(stack, ".gitignore", "*.log\n")
    result = make_plan(stack)
    assert result.stage("sas").reasons[0] == "images/sas/stage.txt (COPY, Dockerfile:4)"
    assert (
        result.stage("jupyterlab-cpu").reasons[0]
        == "images/jupyterlab/stage.txt (COPY, Dockerfile:4)"
    )
    assert result.stage("base").reasons == ["images/base/bin/untracked.sh (COPY, Dockerfile:5)"]


def test_a_moved_file_changes_both_stages(stack: Path) -> None:
    on_branch(stack)
    git(stack, "mv", "images/sas/stage.txt", "images/base/bin/moved.txt")
    commit_all(stack)
    result = make_plan(stack)
    assert result.build == ALL
    assert result.stage("sas").reasons[0] == "images/sas/stage.txt (COPY, Dockerfile:4)"


def test_changes_on_the_base_branch_after_forking_do_not_count(stack: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas/stage.txt", "feature\n")
    commit_all(stack)
    git(stack, "checkout", "-q", "master")
    write(stack, "images/base/stage.txt", "moved on\n")
    commit_all(stack)
    git(stack, "checkout", "-q", "feature")
    assert make_plan(stack).build == ["sas"]


def test_all_builds_every_stage_and_still_reports_what_changed(stack: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas/stage.txt", "2\n")
    result = make_plan(stack, everything=True)
    assert result.build == ALL
    assert result.test == SERVED
    assert result.base_ref == "master"
    assert [s.name for s in result.stages if s.changed] == ["sas"]


def test_a_deleted_file_changes_its_stage(stack: Path) -> None:
    on_branch(stack)
    (stack / "images/mid/stage.txt").unlink()
    assert make_plan(stack).build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def test_tag_variables_change_no_image(stack: Path) -> None:
    on_branch(stack)
    edit_bake_file(stack, 'default = "dev"', 'default = "other"')
    commit_all(stack)
    assert make_plan(stack).build == []


def test_base_image_override_rebuilds_from_the_root(stack: Path) -> None:
    settings = dataclasses.replace(load(stack), base_image="example.org/other:1")
    graph = bakefile.load(settings.bake_path, environ={})
    result = plan.make(settings, graph, changes.open_checkout(stack), base="master", environ={})
    assert result.build == ALL
    assert result.stage("base").reasons == ["--base-image example.org/other:1"]


def test_project_in_a_subfolder_of_its_repository(tmp_path: Path) -> None:
    from tasks.tests.support import make_stack

    top = tmp_path / "top"
    make_stack(top / "containers")
    shutil.move(top / "containers" / ".git", top / ".git")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "move into a subfolder")
    on_branch(top)
    write(top, "images/sas/outside.txt")  # the same path, outside the project folder
    write(top, "containers/images/mid/stage.txt", "inside\n")
    result = make_plan(top / "containers")
    assert result.build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    assert result.stage("mid").reasons == ["images/mid/stage.txt (COPY, Dockerfile:4)"]


@pytest.mark.parametrize(
    ("branch", "tag"),
    [
        ("feature/Add-SAS", "feature-Add-SAS"),
        ("Fix_Bug.2", "Fix_Bug.2"),
        ("user/Émile+fix", "user-mile-fix"),
        ("x" * 140, "x" * 128),
    ],
)
def test_branch_tags(stack: Path, branch: str, tag: str) -> None:
    on_branch(stack, branch)
    result = make_plan(stack, base="master")
    sha = git(stack, "rev-parse", "HEAD")
    assert result.branch == tag
    assert result.stage("mid").tags == [
        f"k8scc01covidacr.azurecr.io/mid:{tag}",
        f"k8scc01covidacr.azurecr.io/mid:{sha}",
        f"k8scc01covidacr.azurecr.io/mid:{sha[:8]}",
    ]


@pytest.mark.parametrize(
    ("name", "tag"),
    [("-.x", "x"), ("..", "unnamed"), ("a b\tc", "a-b-c"), ("ok_1.2-3", "ok_1.2-3")],
)
def test_sanitize(name: str, tag: str) -> None:
    assert tags.sanitize(name) == tag


def test_release_branch_adds_version_and_latest(stack: Path) -> None:
    tags = make_plan(stack).stage("sas").tags
    assert [t.rsplit(":", 1)[1] for t in tags][-2:] == ["v2", "latest"]
    assert tags[0] == "k8scc01covidacr.azurecr.io/sas:master"


def test_detached_head_uses_the_short_sha(stack: Path) -> None:
    sha = git(stack, "rev-parse", "HEAD")
    git(stack, "checkout", "-q", "--detach")
    result = make_plan(stack)
    assert result.branch == sha[:8]
    assert any("detached HEAD" in n for n in result.notes)


def github_pr(stack: Path) -> Path:
    """A clone of `stack` as actions/checkout leaves a pull request (fetch-depth: 0)."""
    origin = stack
    clone = stack.parent / "runner-checkout"
    git(stack.parent, "clone", "-q", str(origin), str(clone))
    write(clone, "images/jupyterlab/stage.txt", "pr\n")
    commit_all(clone)  # the merge commit GitHub makes, checked out detached
    git(clone, "checkout", "-q", "--detach")
    git(clone, "reset", "-q", "--hard", "HEAD")
    git(clone, "branch", "-q", "-f", "master", "origin/master")
    return clone


def test_github_actions_pull_request(stack: Path) -> None:
    clone = github_pr(stack)
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_BASE_REF": "master",
        "GITHUB_HEAD_REF": "feature/New-Lab",
        "GITHUB_REF": "refs/pull/7/merge",
    }
    result = make_plan(clone, base=None, environ=environ)
    assert result.base_ref == "origin/master"
    assert result.branch == "feature-New-Lab"
    assert result.build == ["jupyterlab-cpu"]


def test_github_actions_push_uses_github_ref(stack: Path) -> None:
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/beta"}
    result = make_plan(stack, environ=environ)
    assert result.branch == "beta"
    assert result.stage("sas").tags[0].endswith(":beta")
    assert not any(t.endswith((":v2", ":latest")) for t in result.stage("sas").tags)


def test_github_actions_push_to_the_release_branch_moves_v2_and_latest(stack: Path) -> None:
    git(stack, "checkout", "-q", "--detach")  # actions/checkout leaves a detached HEAD
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/master"}
    tags_ = [t.rsplit(":", 1)[1] for t in make_plan(stack, environ=environ).stage("sas").tags]
    assert tags_[0] == "master"
    assert tags_[-2:] == ["v2", "latest"]


def test_a_pull_request_from_a_branch_named_master_never_moves_v2(stack: Path) -> None:
    clone = github_pr(stack)
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "master", "GITHUB_HEAD_REF": "master"}
    result = make_plan(clone, base=None, environ=environ)
    assert result.branch == "master"
    assert not any(t.endswith((":v2", ":latest")) for t in result.stage("sas").tags)


def test_github_pull_request_base_not_fetched(stack: Path) -> None:
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "develop", "GITHUB_HEAD_REF": "x"}
    result = make_plan(stack, base=None, environ=environ)
    assert result.build == ALL
    assert any("origin/develop is not fetched" in w for w in result.warnings)


def test_a_sha_as_base_names_no_branch(stack: Path) -> None:
    sha = git(stack, "rev-parse", "HEAD")
    on_branch(stack)
    assert make_plan(stack, base=sha).base_branch is None
    assert make_plan(stack, base="master").base_branch == "master"


def test_auto_base_follows_origin_head(stack: Path) -> None:
    clone = github_pr(stack)
    result = make_plan(clone, base=None)
    assert result.base_ref == "origin/master"  # where the clone's origin/HEAD points
    assert result.build == ["jupyterlab-cpu"]


def test_auto_base_falls_back_to_main(tmp_path: Path, stack: Path) -> None:
    git(stack, "branch", "-m", "master", "main")
    on_branch(stack)
    write(stack, "images/sas/x")
    assert make_plan(stack, base=None).base_ref == "main"


def test_no_base_found_builds_everything_with_a_warning(stack: Path) -> None:
    git(stack, "branch", "-m", "master", "trunk")
    result = make_plan(stack, base=None)
    assert result.base_ref is None
    assert result.build == ALL
    assert any("no base branch" in w for w in result.warnings)


def test_explicit_base_that_does_not_resolve_is_an_error(stack: Path) -> None:
    with pytest.raises(ZoneError, match="does not name a commit"):
        make_plan(stack, base="origin/nope")


def test_shallow_clone_without_the_merge_base(stack: Path, tmp_path: Path) -> None:
    on_branch(stack)
    for n in range(3):
        write(stack, f"images/sas/f{n}")
        commit_all(stack)
    git(stack, "checkout", "-q", "master")
    write(stack, "images/base/later")
    commit_all(stack)
    shallow = tmp_path / "shallow"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        "--no-single-branch",
        f"file://{stack}",
        str(shallow),
    )
    git(shallow, "checkout", "-q", "feature")
    result = make_plan(shallow, base="origin/master")
    assert result.merge_base is None
    assert result.build == ALL
    assert any("shallow" in w for w in result.warnings)


def test_no_git_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "docker-bake.hcl").write_text((PROJECT / "docker-bake.hcl").read_text())
    result = make_plan(folder, base=None)
    assert result.build == ALL
    assert result.sha is None
    assert result.stage("sas").tags == ["k8scc01covidacr.azurecr.io/sas:local"]
    assert any("not a git repository" in n for n in result.notes)


def test_levels_follow_the_graph() -> None:
    from tasks.planning import plan as plan_module

    def stage(name: str, parents: list[str], action: plan_module.Action) -> plan_module.StagePlan:
        return plan_module.StagePlan(
            name,
            f"images/{name}",
            (parents or [None])[0],
            parents,
            not name.startswith("p"),
            action == plan_module.Action.BUILD,
            [],
            action,
            [],
        )

    the_plan = plan_module.Plan(
        None,
        None,
        None,
        "b",
        None,
        [
            stage("p0", [], plan_module.Action.REUSE),
            stage("p1", ["p0"], plan_module.Action.BUILD),
            stage("p2", ["p1"], plan_module.Action.BUILD),
            stage("x", ["p2"], plan_module.Action.BUILD),
            stage("y", ["p0"], plan_module.Action.BUILD),
            stage("z", ["p0"], plan_module.Action.REUSE),
        ],
        test=[],
        notes=[],
        warnings=[],
    )
    assert the_plan.levels() == [["p1", "y"], ["p2"], ["x"]]
    assert the_plan.reuse == ["p0", "z"]


def _push_event(tmp_path: Path, before: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": before, "after": "x"}))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": "refs/heads/master",
    }


def test_a_push_compares_with_the_branch_before_it(stack: Path, tmp_path: Path) -> None:
    before = git(stack, "rev-parse", "HEAD")
    write(stack, "images/sas/stage.txt", "merged\n")
    commit_all(stack, "a merged pull request")
    git(stack, "checkout", "-q", "--detach")  # as actions/checkout leaves it
    result = make_plan(stack, base=None, environ=_push_event(tmp_path, before))
    assert result.base_ref == before
    assert result.merge_base == before
    assert result.build == ["sas"]


def test_a_new_branch_push_falls_back_to_the_default_branch(stack: Path, tmp_path: Path) -> None:
    on_branch(stack)
    write(stack, "images/sas/stage.txt", "new\n")
    commit_all(stack)
    result = make_plan(stack, base=None, environ=_push_event(tmp_path, "0" * 40))
    assert result.base_ref == "master"
    assert result.build == ["sas"]


def test_args_only_parents_rebuild_descendants_and_the_migration_rebuilds_nothing(
    stack: Path,
) -> None:
    linked = (stack / "docker-bake.hcl").read_text()
    (stack / "docker-bake.hcl").write_text(
        "\n".join(line for line in linked.splitlines() if "contexts" not in line) + "\n"
    )
    commit_all(stack, "the original's shape: parents by BASE_IMAGE only")
    on_branch(stack)
    write(stack, "images/mid/stage.txt", "mid 2\n")
    assert make_plan(stack).build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    git(stack, "checkout", "-q", "--", "images/mid/stage.txt")
    (stack / "docker-bake.hcl").write_text(linked)  # adds contexts links mirroring the args
    commit_all(stack, "migration: contexts links")
    result = make_plan(stack)
    assert result.build == []
    assert result.stage("sas").parents == ["sas-kernel"]


def test_a_markdown_file_the_dockerfile_copies_changes_the_stage(stack: Path) -> None:
    dockerfile = stack / "images/mid/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY guide.md /home/guide.md\n")
    write(stack, "images/mid/guide.md", "# how to\n")
    commit_all(stack, "a guide for users")
    on_branch(stack)
    write(stack, "images/mid/guide.md", "# how to, better\n")
    write(stack, "images/mid/README.md", "# for maintainers\n")
    result = make_plan(stack)
    assert result.stage("mid").reasons == ["images/mid/guide.md (COPY, Dockerfile:6)"]
    assert result.build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]


def test_a_bake_file_in_a_subfolder_reads_contexts_from_there(stack: Path) -> None:
    (stack / "build").mkdir()
    git(stack, "mv", "docker-bake.hcl", "images", "build/")
    commit_all(stack, "the stack moves into build/")
    on_branch(stack)
    write(stack, "build/images/mid/stage.txt", "mid 2\n")
    settings = dataclasses.replace(load(stack), bake_file="build/docker-bake.hcl")
    graph = bakefile.load(settings.bake_path, environ={})
    result = plan.make(settings, graph, changes.open_checkout(stack), base="master", environ={})
    assert result.build == ["mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    assert result.stage("mid").reasons == ["build/images/mid/stage.txt (COPY, Dockerfile:4)"]
