"""The short docker.yaml of docs/adopting.md calls this repository's workflows as they
are: every input and secret it passes is one they declare, every required one is passed,
every plan output it reads is one plan.yaml gives, and each job passes what this
repository's own docker.yaml (run by act in tasks/tests/e2e/test_workflow_act.py) passes.
And the called workflows find the setup action the same way in every job."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tasks.tests.e2e.test_adoption import guide_block
from tasks.tests.support import PROJECT

WORKFLOWS = PROJECT / ".github" / "workflows"
SETUP = PROJECT / ".github" / "actions" / "setup" / "action.yaml"
BY_REFERENCE = re.compile(r"OWNER/zone-kubeflow-containers/\.github/workflows/([\w.-]+)@(v\S+)")
RUNNER_ACTIONS = "./.zone-runner/.github/actions/setup"


def _load(text: str) -> dict:
    document = yaml.safe_load(text)
    document["on"] = document.get("on", document.pop(True, None))  # YAML 1.1 reads `on` as true
    return document


def _called(name: str) -> dict:
    """A called workflow's `on.workflow_call`."""
    return _load((WORKFLOWS / name).read_text())["on"]["workflow_call"]


def _check_calls(jobs: dict, called_file: object) -> list[str]:
    """What is wrong with each job's call: unknown or missing inputs and secrets."""
    wrong = []
    for name, job in jobs.items():
        called = _called(called_file(job["uses"]))
        inputs, secrets = called.get("inputs", {}), called.get("secrets", {})
        passed, given = job.get("with", {}), job.get("secrets", {})
        assert isinstance(given, dict), f"{name}: named secrets, not {given!r}"
        wrong += [f"{name}: no input {key}" for key in passed if key not in inputs]
        wrong += [f"{name}: no secret {key}" for key in given if key not in secrets]
        wrong += [
            f"{name}: required input {key} not passed"
            for key, spec in inputs.items()
            if spec.get("required") and key not in passed
        ]
        wrong += [
            f"{name}: required secret {key} not passed"
            for key, spec in secrets.items()
            if spec.get("required") and key not in given
        ]
    return wrong


def test_the_guides_docker_yaml_calls_the_workflows_as_they_are() -> None:
    example = _load(guide_block("yaml"))
    jobs = example["jobs"]
    calls = {name: BY_REFERENCE.fullmatch(job.get("uses", "")) for name, job in jobs.items()}
    assert all(calls.values()), f"every job calls a workflow by reference: {calls}"
    # One release of the runner for every call, the tag its dependency is pinned to.
    tags = {match.group(2) for match in calls.values() if match}
    assert tags == {"vYYYY.MM.DD"}
    assert "zone-kubeflow-containers@vYYYY.MM.DD" in guide_block("toml")
    assert _check_calls(jobs, lambda uses: BY_REFERENCE.fullmatch(uses).group(1)) == []
    # The plan outputs it reads are plan.yaml's.
    outputs = _called("plan.yaml")["outputs"]
    read = set(re.findall(r"needs\.plan\.outputs\.(\w+)", guide_block("yaml")))
    assert read and read <= set(outputs), read - set(outputs)
    # Each job is this repository's own, called the same way.
    ours = _load((WORKFLOWS / "docker.yaml").read_text())["jobs"]
    for name, job in jobs.items():
        assert name in ours, name
        assert Path(ours[name]["uses"]).name == Path(job["uses"].split("@")[0]).name, name
        assert ours[name].get("with") == job.get("with"), name
        assert ours[name].get("secrets") == job.get("secrets"), name
        assert ours[name].get("permissions") == job.get("permissions"), name


def test_this_repositorys_docker_yaml_calls_the_workflows_as_they_are() -> None:
    jobs = _load((WORKFLOWS / "docker.yaml").read_text())["jobs"]
    assert all(job["uses"].startswith("./.github/workflows/") for job in jobs.values())
    assert _check_calls(jobs, lambda uses: Path(uses).name) == []


def test_a_mistaken_call_is_caught() -> None:
    jobs = {
        "build-1": {
            "uses": "./.github/workflows/build-stage.yaml",
            "with": {"matrix": "[]", "registery": "x"},
            "secrets": {"registry-password": "p", "REGISTRY_USERNAME": "u"},
        }
    }
    assert _check_calls(jobs, lambda uses: Path(uses).name) == [
        "build-1: no input registery",
        "build-1: no secret REGISTRY_USERNAME",
        "build-1: required input registry not passed",
        "build-1: required secret registry-username not passed",
    ]


def test_every_called_job_finds_the_setup_action_the_same_way() -> None:
    setup_inputs = set(yaml.safe_load(SETUP.read_text())["inputs"])
    finding = None
    for name in ("plan.yaml", "reused.yaml", "build-stage.yaml"):
        for job_name, job in _load((WORKFLOWS / name).read_text())["jobs"].items():
            steps = job["steps"]
            at = next(i for i, step in enumerate(steps) if step.get("uses") == RUNNER_ACTIONS)
            assert set(steps[at]["with"]) <= setup_inputs, (name, job_name)
            # The checkout of the caller, then the two steps that put the action in place.
            assert steps[0]["uses"] == "actions/checkout@v4", (name, job_name)
            assert at == 3, (name, job_name)
            fetched = steps[2]["with"]
            assert fetched["repository"] == "${{ job.workflow_repository }}"
            assert fetched["ref"] == "${{ job.workflow_sha }}"
            assert fetched["path"] == ".zone-runner"
            finding = finding or steps[1:3]
            assert steps[1:3] == finding, (name, job_name)
    assert "/.zone-runner/" in finding[0]["run"] and ".git/info/exclude" in finding[0]["run"]
