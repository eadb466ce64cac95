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
_STATUS = re.compile(r"\b(always|success|failure|cancelled)\(\)")


class ReplayError(AssertionError):
    pass


class Replay:
    def __init__(
        self,
        repo: Path,
        env: dict[str, str],
        variables: dict[str, str] | None = None,
        before_job: Callable[[str], None] = lambda job: None,
    ) -> None:
        self.repo = repo
        self.env = env
        self.variables = {f"vars.{k}": v for k, v in (variables or {}).items()}
        self.before_job = before_job  # e.g. make the runner fresh
        self.ran: list[str] = []  # "job", "job / name" or "job (matrix values)", in order
        self.commands: list[str] = []  # every command run, after substitution

    def workflow(self, name: str) -> dict:
        return yaml.safe_load((self.repo / ".github" / "workflows" / name).read_text())

    def run(self, name: str) -> dict[str, dict[str, str]]:
        """Every job of the workflow; returns each job's outputs. The first failing step
        ends the replay (ReplayError), so no job ever runs after a failure."""
        workflow = self.workflow(name)
        triggers = workflow.get("on") or workflow.get(True) or {}  # YAML 1.1 reads on: as True
        dispatch = (triggers.get("workflow_dispatch") or {}) if isinstance(triggers, dict) else {}
        # Not a manual run: every workflow_dispatch input is empty, as on GitHub.
        context = {**self.variables, **{f"inputs.{k}": "" for k in dispatch.get("inputs", {})}}
        env = self._env(workflow, context)
        outputs: dict[str, dict[str, str]] = {}
        results: dict[str, str] = {}
        for job_id, job in _in_needs_order(workflow["jobs"]):
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            job_context = {
                **context,
                **{f"needs.{n}.outputs.{k}": v for n, o in outputs.items() for k, v in o.items()},
            }
            expression = str(job.get("if", ""))
            # Without a status function GitHub adds success(): a skipped need skips the job.
            needs_met = _STATUS.search(expression) or all(results[n] == "success" for n in needs)
            if not needs_met or not self.condition(expression, job_context):
                results[job_id] = "skipped"
            else:
                outputs[job_id] = self._job(job_id, job, job_context, env)
                results[job_id] = "success"
        return outputs

    def _env(self, block: dict, context: dict, env: dict[str, str] | None = None) -> dict[str, str]:
        values = {k: self.substitute(str(v), context) for k, v in block.get("env", {}).items()}
        return {**(env or self.env), **values}

    def _job(self, job_id: str, job: dict, context: dict, env: dict) -> dict[str, str]:
        if "uses" in job:  # a called workflow: its one job, with the inputs as given
            called = self.workflow(Path(job["uses"]).name)
            inputs = {
                f"inputs.{k}": self.substitute(str(v), context) for k, v in job["with"].items()
            }
            inner_context = {**self.variables, **inputs}
            (inner,) = called["jobs"].values()
            return self._job(job_id, inner, inner_context, self._env(called, inner_context))
        env = self._env(job, context, env)
        strategy = job.get("strategy", {}).get("matrix")
        if strategy is None:
            return self._steps(job_id, job, context, env)
        for entry in self._matrix(strategy, context):
            inner = {**context, **{f"matrix.{k}": v for k, v in entry.items()}}
            # As GitHub shows it: "job / name", or "job (matrix values)".
            if "name" in job:
                label = f"{job_id} / {self.substitute(job['name'], inner)}"
            else:
                label = f"{job_id} ({', '.join(map(str, entry.values()))})"
            self._steps(label, job, inner, env)
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

    def _steps(self, label: str, job: dict, context: dict, env: dict) -> dict[str, str]:
        self.before_job(label)
        self.ran.append(label)
        steps: dict[str, dict[str, str]] = {}
        for step in job["steps"]:
            if "run" not in step or not self.condition(step.get("if", ""), context):
                continue
            command = self.substitute(step["run"], context)
            step_env = self._env(step, context, env)
            self.commands.append(command)
            output_file = self.repo.parent / f"github-output-{len(self.commands)}"
            output_file.write_text("")
            result = subprocess.run(
                ["bash", "-e", "-c", command],
                cwd=self.repo,
                env={**step_env, "GITHUB_OUTPUT": str(output_file)},
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

    def _lookup(self, expression: str, context: dict) -> str:
        """A name, or `a || b || 'literal'`: the first that is set and not empty."""
        for part in (p.strip() for p in expression.split("||")):
            if part.startswith("'") and part.endswith("'"):
                return part[1:-1]
            if part not in context:
                raise ReplayError(f"the replay does not know `{part}`")
            value = context[part]
            value = json.dumps(value) if isinstance(value, bool) else value
            if value or "||" not in expression:
                return value
        return ""

    def condition(self, text: object, context: dict) -> bool:
        """`if:` with the forms our workflows use: terms joined by &&. The replay stops at
        the first failure, so the status functions are true whenever it is running."""
        if isinstance(text, bool):
            return text
        expression = str(text).strip()
        whole = _EXPRESSION.fullmatch(expression)
        expression = whole.group(1) if whole else expression
        return not expression or all(self._term(t.strip(), context) for t in expression.split("&&"))

    def _term(self, term: str, context: dict) -> bool:
        if term in ("!cancelled()", "always()", "!failure()", "success()"):
            return True
        comparison = _COMPARISON.fullmatch(term)
        if comparison:
            name, operator, literal = comparison.groups()
            return (self._lookup(name, context) == literal) == (operator == "==")
        if re.fullmatch(r"[\w.-]+", term):
            if term not in context:
                raise ReplayError(f"the replay does not know `{term}`")
            return context[term] not in (False, "", "false", "0")
        raise ReplayError(f"the replay cannot evaluate `{term}`")


def _in_needs_order(jobs: dict) -> list[tuple[str, dict]]:
    done: list[str] = []
    while len(done) < len(jobs):
        for job_id, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if job_id not in done and all(n in done for n in needs):
                done.append(job_id)
    return [(job_id, jobs[job_id]) for job_id in done]


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
