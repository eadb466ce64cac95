"""Replay a GitHub workflow's nox steps here, in the order and with the values GitHub would.

Jobs run in `needs` order, with their `if:` conditions, matrices (from the plan's outputs)
and called workflows; `run:` steps run in bash with GitHub's environment variables and a
fresh $GITHUB_OUTPUT each; `uses:` steps (checkout, setup, login, upload) are GitHub's
business and are skipped. Only the expressions our workflows use are understood: anything
else fails the replay, so the workflows stay replayable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from tasks.tests.conftest import PROJECT, git, make_stack

REPLAY_TESTS = Path(__file__).parent / "fixtures" / "replay-tests"

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMPARISON = re.compile(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'")
_FROM_JSON = re.compile(r"fromJSON\(([\w.-]+)\)")


class ReplayError(AssertionError):
    pass


class Replay:
    def __init__(
        self,
        repo: Path,
        env: dict[str, str],
        before_job: Callable[[str], None] = lambda job: None,
    ) -> None:
        self.repo = repo
        self.env = env
        self.before_job = before_job  # e.g. make the runner fresh
        self.ran: list[str] = []  # "job" or "job (stage)", in order
        self.commands: list[str] = []  # every command run, after substitution

    def workflow(self, name: str) -> dict:
        return yaml.safe_load((self.repo / ".github" / "workflows" / name).read_text())

    def run(self, name: str) -> dict[str, dict[str, str]]:
        """Every job of the workflow; returns each job's outputs."""
        jobs = self.workflow(name)["jobs"]
        outputs: dict[str, dict[str, str]] = {}
        results: dict[str, str] = {}
        for job_id in _in_needs_order(jobs):
            job = jobs[job_id]
            context = {
                f"needs.{n}.outputs.{k}": v for n, o in outputs.items() for k, v in o.items()
            }
            context["failure"] = any(r == "failure" for r in results.values())
            if not self.condition(job.get("if", ""), context):
                results[job_id] = "skipped"
                continue
            try:
                outputs[job_id] = self._job(job_id, job, context)
                results[job_id] = "success"
            except ReplayError:
                results[job_id] = "failure"
                raise
        return outputs

    def _job(self, job_id: str, job: dict, context: dict) -> dict[str, str]:
        if "uses" in job:  # a called workflow: its one job, with the inputs as given
            called = self.workflow(Path(job["uses"]).name)
            inputs = {
                f"inputs.{k}": self.substitute(str(v), context) for k, v in job["with"].items()
            }
            (inner,) = called["jobs"].values()
            return self._job(job_id, inner, {**context, **inputs})
        strategy = job.get("strategy", {}).get("matrix")
        if strategy is None:
            return self._steps(job_id, job, context)
        for entry in self._matrix(strategy, context):
            inner = {**context, **{f"matrix.{k}": v for k, v in entry.items()}}
            # As GitHub shows it: "job / name", or "job (matrix values)".
            if "name" in job:
                label = f"{job_id} / {self.substitute(job['name'], inner)}"
            else:
                label = f"{job_id} ({', '.join(map(str, entry.values()))})"
            self._steps(label, job, inner)
        return {}

    def _matrix(self, strategy: object, context: dict) -> list[dict]:
        if isinstance(strategy, str):  # ${{ fromJSON(x) }}: {"include": [...]}
            return json.loads(self._from_json(strategy, context))["include"]
        ((key, value),) = strategy.items()  # one axis: key: ${{ fromJSON(x) }}
        return [{key: item} for item in json.loads(self._from_json(value, context))]

    def _from_json(self, text: str, context: dict) -> str:
        match = _FROM_JSON.fullmatch(_EXPRESSION.fullmatch(text.strip()).group(1))
        if not match:
            raise ReplayError(f"the replay cannot read this matrix: {text}")
        return self._lookup(match.group(1), context)

    def _steps(self, label: str, job: dict, context: dict) -> dict[str, str]:
        self.before_job(label)
        self.ran.append(label)
        steps: dict[str, dict[str, str]] = {}
        for step in job["steps"]:
            if "run" not in step or not self.condition(step.get("if", ""), context):
                continue
            command = self.substitute(step["run"], context)
            self.commands.append(command)
            output_file = self.repo.parent / f"github-output-{len(self.commands)}"
            output_file.write_text("")
            result = subprocess.run(
                ["bash", "-e", "-c", command],
                cwd=self.repo,
                env={**self.env, "GITHUB_OUTPUT": str(output_file)},
                capture_output=True,
                text=True,
                timeout=900,
            )
            if result.returncode != 0:
                raise ReplayError(
                    f"{label}: `{command}` failed ({result.returncode}):\n"
                    f"{result.stdout}{result.stderr}"
                )
            if "id" in step:
                lines = output_file.read_text().splitlines()
                steps[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        step_context = {f"steps.{s}.outputs.{k}": v for s, o in steps.items() for k, v in o.items()}
        return {
            key: self.substitute(str(value), {**context, **step_context})
            for key, value in job.get("outputs", {}).items()
        }

    def substitute(self, text: str, context: dict) -> str:
        return _EXPRESSION.sub(lambda m: str(self._lookup(m.group(1), context)), text)

    def _lookup(self, name: str, context: dict) -> str:
        if name not in context:
            raise ReplayError(f"the replay does not know `{name}`")
        value = context[name]
        return json.dumps(value) if isinstance(value, bool) else value

    def condition(self, text: object, context: dict) -> bool:
        """`if:` with the forms our workflows use: terms joined by &&."""
        if isinstance(text, bool):
            return text
        expression = str(text).strip()
        if not expression:
            return not context.get("failure")
        whole = _EXPRESSION.fullmatch(expression)
        expression = whole.group(1) if whole else expression
        return all(self._term(term.strip(), context) for term in expression.split("&&"))

    def _term(self, term: str, context: dict) -> bool:
        if term in ("!cancelled()", "always()"):
            return True
        if term == "!failure()":
            return not context.get("failure")
        comparison = _COMPARISON.fullmatch(term)
        if comparison:
            name, operator, literal = comparison.groups()
            return (self._lookup(name, context) == literal) == (operator == "==")
        if re.fullmatch(r"[\w.-]+", term):
            value = context.get(term)
            if value is None:
                raise ReplayError(f"the replay does not know `{term}`")
            return value not in (False, "", "false", "0")
        raise ReplayError(f"the replay cannot evaluate `{term}`")


def _in_needs_order(jobs: dict) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        for job_id, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if job_id not in done and all(n in done for n in needs):
                done.append(job_id)
    return done


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


def nox_shim(folder: Path, python: str, envdir: Path) -> dict[str, str]:
    """A `nox` on PATH that is this test run's nox, with its shared venvs."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "nox"
    shim.write_text(f'#!/bin/sh\nexec "{python}" -m nox --envdir "{envdir}" "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
