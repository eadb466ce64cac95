"""The tag policy on its own: which tags a stage's build gets, what each claims, and the
order push and retag write them in. Plain values, no engine, no git."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.console import ZoneError
from tasks.planning import tags
from tasks.planning.tags import Group, Revision
from tasks.settings import Settings

SHA = "0123456789abcdef0123456789abcdef01234567"
SETTINGS = Settings(root=Path("."), release_branch="master", version_tag="v2")


def test_a_release_build_pushes_immutable_then_branch_then_moving() -> None:
    stage_tags = Revision("master", SHA).tags(SETTINGS, extra=("nightly",))
    assert stage_tags == ["master", SHA, SHA[:8], "v2", "latest", "nightly"]
    assert tags.push_order(stage_tags, SETTINGS) == [
        SHA,
        SHA[:8],
        "master",
        "nightly",
        "v2",
        "latest",
    ]


def test_a_feature_branch_has_no_moving_tags() -> None:
    stage_tags = Revision("feature-x", SHA).tags(SETTINGS)
    assert tags.push_order(stage_tags, SETTINGS) == [SHA, SHA[:8], "feature-x"]


def test_a_pull_request_on_the_release_branch_name_gets_no_release_tags() -> None:
    stage_tags = Revision("master", SHA, pull_request=True).tags(SETTINGS)
    assert tags.push_order(stage_tags, SETTINGS) == [SHA, SHA[:8], "master"]


def test_a_dirty_build_claims_no_commit() -> None:
    revision = Revision("master", SHA, dirty=("images/base/Dockerfile",))
    stage_tags = revision.tags(SETTINGS, extra=("mine",))
    assert stage_tags == ["master", f"{SHA[:8]}-dirty", "mine"]
    assert {tags.group(tag, SETTINGS) for tag in stage_tags} == {Group.BRANCH}
    assert tags.push_order(stage_tags, SETTINGS) == stage_tags  # one group: as made
    assert revision.label == f"{SHA}-dirty"


def test_a_detached_dirty_build_loses_its_short_sha_branch_tag() -> None:
    revision = Revision(SHA[:8], SHA, dirty=("x",))
    assert revision.tags(SETTINGS) == [f"{SHA[:8]}-dirty"]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (SHA, Group.IMMUTABLE),
        (SHA[:8], Group.IMMUTABLE),
        (f"{SHA[:8]}-dirty", Group.BRANCH),
        ("master", Group.BRANCH),
        ("feature-x", Group.BRANCH),
        (SHA[:7], Group.BRANCH),  # not our short-SHA length
        (SHA.upper(), Group.BRANCH),  # git's SHAs are lowercase
        ("v2", Group.MOVING),
        ("latest", Group.MOVING),
        ("v3", Group.BRANCH),  # another version tag is not this stack's moving tag
    ],
)
def test_what_each_tag_claims(tag: str, expected: Group) -> None:
    assert tags.group(tag, SETTINGS) == expected


def test_the_version_tag_follows_the_setting() -> None:
    settings = Settings(root=Path("."), version_tag="v3")
    assert tags.group("v3", settings) == Group.MOVING
    assert tags.group("v2", settings) == Group.BRANCH
    assert tags.push_order(["latest", "v3", "v2", SHA[:8]], settings) == [
        SHA[:8],
        "v2",
        "v3",
        "latest",
    ]


def test_a_dirty_build_keeps_only_the_tags_that_claim_no_commit() -> None:
    """An image baked before the edits carries SHA and release tags: those stay local."""
    baked = ["master", SHA, SHA[:8], "v2", "latest", f"{SHA[:8]}-dirty", "extra"]
    assert tags.dirty_build_tags(baked, SETTINGS) == ["master", f"{SHA[:8]}-dirty", "extra"]


def test_the_moving_tags_go_last_whatever_the_input_order() -> None:
    shuffled = ["latest", "b", SHA[:8], "v2", "a", SHA]
    assert tags.push_order(shuffled, SETTINGS) == [SHA, SHA[:8], "b", "a", "v2", "latest"]


def test_stage_image_names_and_their_tags() -> None:
    name = tags.image_name("localhost:5000/team/", "base")
    assert (name.registry, name.path, name.tag) == ("localhost:5000", "team/base", None)
    assert tags.image_name("", "base").name == "base"
    refs = tags.image_refs("localhost:5000/team", "base", [SHA, "v2"])
    assert refs == [f"localhost:5000/team/base:{SHA}", "localhost:5000/team/base:v2"]
    assert tags.tag_names(refs) == [SHA, "v2"]
    with pytest.raises(ZoneError, match="its tag 'a b' is not valid"):
        tags.image_refs("zone", "base", ["a b"])


@pytest.mark.parametrize("branch", ["master", "feature-x"])
def test_a_build_with_unpinned_inputs_claims_no_commit(branch: str) -> None:
    """Another upstream, an overridden bake variable, raw --set: like a dirty build, the
    branch tag and a tag of its own, no SHA and no release tag, a label naming no commit."""
    custom = Revision(branch, SHA, variant=tags.CUSTOM)
    assert custom.tags(SETTINGS, extra=("x",)) == [branch, f"{SHA[:8]}-custom", "x"]
    assert custom.label == f"{SHA}-custom"
    both = Revision(branch, SHA, dirty=("a",), variant=tags.CUSTOM)
    assert both.tags(SETTINGS) == [branch, f"{SHA[:8]}-dirty-custom"]
    assert both.label == f"{SHA}-dirty-custom"
    for tag in [*custom.tags(SETTINGS), *both.tags(SETTINGS)]:
        assert tags.group(tag, SETTINGS) == Group.BRANCH  # push keeps only these


def test_a_build_without_sas_has_tags_of_its_own() -> None:
    """Never the default image's tags: not even the branch tag."""
    no_sas = Revision("master", SHA, variant=tags.NO_SAS)
    assert no_sas.tags(SETTINGS) == ["master-nosas", f"{SHA[:8]}-nosas"]
    assert no_sas.label == f"{SHA}-nosas"
    assert no_sas.branch_tag == "master-nosas"  # what `nox -s test` and `dev` then use
    assert tags.dirty_build_tags(no_sas.tags(SETTINGS), SETTINGS) == no_sas.tags(SETTINGS)
