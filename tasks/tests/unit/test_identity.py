"""Issue 17 §4: keyless trust names one workflow on the refs that publish.

GitHub's OIDC, Fulcio and Rekor are out of reach here, so the trust is checked where it is
decided: the identity pattern cosign is given (against identities that must and must not
pass, with Python's `re`, which reads this pattern as Go's regexp does), and the
workflows' permissions (only the job that pushes may ask for an OIDC token, and it is the
one workflow the pattern names).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tasks import settings as settings_module
from tasks import signing
from tasks.console import ZoneError
from tasks.settings import Settings
from tasks.tests.support import PROJECT

REPOSITORY = "StatCan/zone-kubeflow-containers"
WORKFLOWS = PROJECT / ".github" / "workflows"
PUBLISHING = ("refs/heads/master", "refs/heads/beta")


def _url(workflow: str, ref: str, repository: str = REPOSITORY) -> str:
    """A certificate identity as Fulcio writes it for a GitHub Actions job."""
    return f"https://github.com/{repository}/.github/workflows/{workflow}@{ref}"


def _trusts(pattern: str, identity: str) -> bool:
    return re.search(pattern, identity) is not None


def _pattern(refs: tuple[str, ...], repository: str = REPOSITORY) -> str:
    flags = signing.Identity(keyless_repository=repository, keyless_refs=refs).verify_flags()
    assert flags[flags.index("--certificate-oidc-issuer") + 1] == signing.GITHUB_ISSUER
    return flags[flags.index("--certificate-identity-regexp") + 1]


# --- the pattern -------------------------------------------------------------------------


def test_only_the_signing_workflow_on_a_publishing_branch_is_trusted() -> None:
    pattern = _pattern(PUBLISHING)
    for ref in PUBLISHING:
        assert _trusts(pattern, _url("build-stage.yaml", ref)), ref
    refused = [
        _url("evil.yaml", "refs/heads/attacker"),  # the case of the issue
        _url("evil.yaml", "refs/heads/master"),  # another workflow, even on master
        _url("docker.yaml", "refs/heads/master"),  # the caller: its jobs do not sign
        _url("build-stage.yaml", "refs/heads/attacker"),  # the right file, another branch
        _url("build-stage.yaml", "refs/pull/5/merge"),  # a pull request's run
        _url("build-stage.yaml", "refs/tags/v1"),
        _url("build-stage.yaml", "refs/heads/master-evil"),  # the end is anchored
        _url("build-stage.yaml", "refs/heads/masterXrefs/heads/beta"),
        _url("build-stage.yaml", "refs/heads/master") + "/x",
        "x" + _url("build-stage.yaml", "refs/heads/master"),  # so is the start
        _url("build-stage.yaml", "refs/heads/master", "StatCan/zone-kubeflow-containers2"),
        _url("build-stage.yaml", "refs/heads/master", "attacker/zone-kubeflow-containers"),
        _url("build-stage.yaml", "refs/heads/master").replace("github.com", "githubXcom"),
        _url("build-stageXyaml", "refs/heads/master"),
        _url("other/build-stage.yaml", "refs/heads/master"),
    ]
    for identity in refused:
        assert not _trusts(pattern, identity), identity


def test_a_dot_in_the_repository_name_matches_only_a_dot() -> None:
    pattern = _pattern(PUBLISHING, "stat.can/zone.containers")
    assert _trusts(
        pattern, _url("build-stage.yaml", "refs/heads/master", "stat.can/zone.containers")
    )
    for lookalike in ("statXcan/zone.containers", "stat.can/zoneXcontainers"):
        assert not _trusts(pattern, _url("build-stage.yaml", "refs/heads/master", lookalike))


def test_a_pull_request_is_trusted_within_itself_only() -> None:
    pattern = _pattern((*PUBLISHING, "refs/pull/7/merge"))
    assert _trusts(pattern, _url("build-stage.yaml", "refs/pull/7/merge"))
    assert _trusts(pattern, _url("build-stage.yaml", "refs/heads/master"))  # its base's
    for ref in ("refs/pull/8/merge", "refs/pull/77/merge", "refs/pull/7/head"):
        assert not _trusts(pattern, _url("build-stage.yaml", ref)), ref
    # And on the release branch, no pull request's image at all.
    assert not _trusts(_pattern(PUBLISHING), _url("build-stage.yaml", "refs/pull/7/merge"))


RUNNER = "StatCan/zone-kubeflow-containers"
ADOPTER = "StatCan/aaw-kubeflow-containers"


def _runner_flags(tags: str = "v*", runner: str = RUNNER) -> list[str]:
    identity = signing.Identity(
        keyless_repository=ADOPTER,
        keyless_refs=PUBLISHING,
        runner_repository=runner,
        runner_tags=tags,
    )
    return identity.verify_flags()


def test_by_reference_only_the_runners_workflow_at_a_release_tag_is_trusted() -> None:
    flags = _runner_flags()
    pattern = flags[flags.index("--certificate-identity-regexp") + 1]
    # Made in the adopter's own runs, and nowhere else (cosign's exact claim check).
    assert flags[flags.index("--certificate-github-workflow-repository") + 1] == ADOPTER
    assert flags[flags.index("--certificate-oidc-issuer") + 1] == signing.GITHUB_ISSUER
    for tag in ("v2026.12.07", "v1", "v2026.12.07-1", "v"):
        assert _trusts(pattern, _url("build-stage.yaml", f"refs/tags/{tag}", RUNNER)), tag
    refused = [
        _url("build-stage.yaml", "refs/tags/v1", "attacker/zone-kubeflow-containers"),
        _url("build-stage.yaml", "refs/tags/v1", "StatCan/zone-kubeflow-containers2"),
        _url("build-stage.yaml", "refs/tags/v1", "StatCan/zone-kubeflow-container"),
        _url("build-stage.yaml", "refs/tags/v1", ADOPTER),  # the adopter's own file
        _url("evil.yaml", "refs/tags/v1", RUNNER),  # another workflow of the runner
        _url("docker.yaml", "refs/tags/v1", RUNNER),
        _url("other/build-stage.yaml", "refs/tags/v1", RUNNER),
        _url("build-stageXyaml", "refs/tags/v1", RUNNER),
        _url("build-stage.yaml", "refs/heads/master", RUNNER),  # a branch, not a tag
        _url("build-stage.yaml", "refs/heads/v1", RUNNER),  # a branch named like a tag
        _url("build-stage.yaml", "refs/pull/7/merge", RUNNER),
        _url("build-stage.yaml", "refs/tags/x1", RUNNER),  # not a v tag
        _url("build-stage.yaml", "refs/tags/release-v1", RUNNER),
        _url("build-stage.yaml", "refs/tags/v1/x", RUNNER),  # `*` never spans a `/`
        _url("build-stage.yaml", "refs/tags/v1", RUNNER) + "/x",  # the end is anchored
        _url("build-stage.yaml", "refs/tags/v1", RUNNER) + "@refs/heads/x",
        "x" + _url("build-stage.yaml", "refs/tags/v1", RUNNER),  # so is the start
        _url("build-stage.yaml", "refs/tags/v1", RUNNER).replace("github.com", "githubXcom"),
        _url("build-stage.yaml", "refs/tagsXv1", RUNNER),
        _url("build-stage.yaml", "0123456789abcdef0123456789abcdef01234567", RUNNER),  # a SHA
    ]
    for identity in refused:
        assert not _trusts(pattern, identity), identity


def test_by_reference_tags_and_names_are_literal_but_for_the_star() -> None:
    exact = _runner_flags("v2.1", "stat.can/zone.runner")
    pattern = exact[exact.index("--certificate-identity-regexp") + 1]
    assert _trusts(pattern, _url("build-stage.yaml", "refs/tags/v2.1", "stat.can/zone.runner"))
    for tag in ("v2X1", "v2.10", "v2.1.0"):
        assert not _trusts(
            pattern, _url("build-stage.yaml", f"refs/tags/{tag}", "stat.can/zone.runner")
        ), tag
    assert not _trusts(pattern, _url("build-stage.yaml", "refs/tags/v2.1", "statXcan/zone.runner"))


def test_runner_repository_sets_whom_a_run_trusts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", ADOPTER)
    monkeypatch.setenv("GITHUB_REF", "refs/heads/master")
    adopter = signing.identity(Settings(root=tmp_path, runner_repository=RUNNER))
    assert (adopter.runner_repository, adopter.runner_tags) == (RUNNER, "v*")
    assert adopter.describe() == (
        f"build-stage.yaml of github.com/{RUNNER} at tags v*, run in github.com/{ADOPTER}"
    )
    # In the runner's own repository the setting changes nothing: its own workflow,
    # called locally, signs on its branches.
    monkeypatch.setenv("GITHUB_REPOSITORY", RUNNER)
    own = signing.identity(Settings(root=tmp_path, runner_repository=RUNNER))
    assert own.runner_repository == ""
    assert "--certificate-github-workflow-repository" not in own.verify_flags()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("runner-repository", '"zone-kubeflow-containers"', "must be a GitHub repository"),
        ("runner-repository", '"a/b/c"', "must be a GitHub repository"),
        ("runner-repository", '"a/b c"', "must be a GitHub repository"),
        ("runner-tags", '"v[0-9]"', "must be a tag pattern"),
        ("runner-tags", '"v*/x"', "must be a tag pattern"),
        ("runner-tags", '""', "must be a tag pattern"),
    ],
)
def test_runner_settings_are_checked_at_load(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.zone]\n{key} = {value}\n")
    with pytest.raises(ZoneError) as refused:
        settings_module.load(tmp_path)
    assert f"setting [tool.zone] {key}" in refused.value.message
    assert message in refused.value.message


def test_no_ref_trusts_nothing() -> None:
    with pytest.raises(ZoneError, match="no branch is trusted to sign"):
        _pattern(())


def test_the_trusted_refs_come_from_the_settings_and_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    configured = Settings(root=tmp_path, publish_branches=("master", "beta"))

    monkeypatch.setenv("GITHUB_REF", "refs/heads/master")  # a push to master
    assert signing.identity(configured).keyless_refs == PUBLISHING
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")  # a pull request's run
    in_pull_request = signing.identity(configured)
    assert in_pull_request.keyless_refs == (*PUBLISHING, "refs/pull/7/merge")
    assert in_pull_request.describe() == (
        f"build-stage.yaml of github.com/{REPOSITORY} on master, beta, refs/pull/7/merge"
    )
    # Nothing set: the release branch alone.
    monkeypatch.setenv("GITHUB_REF", "refs/heads/master")
    alone = signing.identity(Settings(root=tmp_path, release_branch="main"))
    assert alone.keyless_refs == ("refs/heads/main", "refs/heads/master")
    # Outside GitHub Actions there is no keyless identity to trust at all.
    monkeypatch.setenv("GITHUB_ACTIONS", "")
    assert not signing.identity(configured).can_verify


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "must be a list of branch names, not []"),
        ('"master beta"', None),
        ('["master", 3]', "must be a list of branch names"),
        ('["has space"]', "must be a branch name (not empty, no spaces)"),
    ],
)
def test_publish_branches_are_checked_at_load(
    tmp_path: Path, value: str, message: str | None
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.zone]\npublish-branches = {value}\n")
    if message is None:
        assert settings_module.load(tmp_path).publish_branches == ("master", "beta")
        return
    with pytest.raises(ZoneError) as refused:
        settings_module.load(tmp_path)
    assert "setting [tool.zone] publish-branches" in refused.value.message
    assert message in refused.value.message


# --- the workflows -----------------------------------------------------------------------


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _grants_token(permissions: object) -> bool:
    if permissions in ("write-all",):
        return True
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def _pushes(name: str, job: dict) -> bool:
    """The job runs `nox -s push`, or calls a workflow of this repository one of whose
    jobs does."""
    called = job.get("uses", "")
    if called.startswith("./.github/workflows/"):
        inner = _workflow(Path(called).name)
        return any(_pushes(Path(called).name, j) for j in inner["jobs"].values())
    return any("nox -s push" in str(step.get("run", "")) for step in job.get("steps", []))


def test_only_the_jobs_that_push_may_ask_for_an_oidc_token() -> None:
    signing_jobs = set()
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        workflow = yaml.safe_load(path.read_text())
        # Never for a whole workflow: a job added later would inherit it.
        assert not _grants_token(workflow.get("permissions")), path.name
        for job_name, job in workflow["jobs"].items():
            where = f"{path.name}: {job_name}"
            if _grants_token(job.get("permissions")):
                assert _pushes(path.name, job), f"{where} may ask for a token but pushes nothing"
            elif "nox -s push" in str(job.get("steps", "")):
                pytest.fail(f"{where} pushes without id-token: write (its images go unsigned)")
            if _grants_token(job.get("permissions")) and "uses" not in job:
                signing_jobs.add(path.name)
    # The job that signs is in the one workflow the identity pattern names.
    assert signing_jobs == {signing.SIGNING_WORKFLOW}


def test_the_publishing_branches_are_the_ones_docker_yaml_pushes_from() -> None:
    docker = _workflow("docker.yaml")
    triggers = docker.get("on", docker.get(True))  # YAML 1.1 reads a bare `on` as true
    configured = settings_module.load(PROJECT)
    assert tuple(triggers["push"]["branches"]) == configured.signing_branches
    # Every build level calls the signing workflow: what it signs is what is trusted.
    calls = {job.get("uses") for name, job in docker["jobs"].items() if name.startswith("build-")}
    assert calls == {f"./.github/workflows/{signing.SIGNING_WORKFLOW}"}
