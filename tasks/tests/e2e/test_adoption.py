"""docs/adopting.md followed in a new repository: the runner as a dependency, the short
noxfile, the short docker.yaml, and `nox -s plan`, `nox -s docs`, `nox -s lint` passing
there.

No forge is reachable here, so the guide's git URL is replaced by a wheel built from this
checkout (`uv build`): what an adopter installs from a release tag is that same wheel.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tasks.tests.support import PROJECT, clean_env, commit_all, make_stack, run_nox, write

GUIDE = PROJECT / "docs/adopting.md"
OURS_ONLY = "# --- this repository only"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runner's wheel, built from this checkout as a release would build it."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [shutil.which("uv") or "uv", "build", "--wheel", "--out-dir", str(out), str(PROJECT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("zone_runner-*.whl")
    return found


def guide_block(language: str) -> str:
    """The guide's first fenced block in `language`, its list indentation removed."""
    match = re.search(rf"^( *)```{language}\n(.*?)^\1```", GUIDE.read_text(), re.M | re.S)
    assert match, f"docs/adopting.md has no {language} block"
    indent = match.group(1)
    return "".join(line.removeprefix(indent) for line in match.group(2).splitlines(True))


def adopting_noxfile() -> str:
    """This repository's noxfile down to the line the guide names."""
    text = (PROJECT / "noxfile.py").read_text()
    assert OURS_ONLY in text, f"noxfile.py lost its {OURS_ONLY!r} line, which the guide names"
    return text[: text.index(OURS_ONLY)].rstrip() + "\n"


def test_the_wheel_is_the_runner_without_its_tests(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "tasks/cli.py" in names and "tasks/lint/hooks.yaml" in names
    assert not [name for name in names if name.startswith("tasks/tests/")]
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "zone-runner = tasks.__main__:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_a_new_repository_adopts_the_runner_as_the_guide_says(
    tmp_path: Path, wheel: Path, nox_envdir: Path
) -> None:
    repo = make_stack(tmp_path / "adopter")
    pyproject = guide_block("toml")
    pinned = re.sub(r"@ git\+https://\S+?\"", f'@ {wheel.as_uri()}"', pyproject)
    assert pinned != pyproject, "the guide's pyproject.toml names the runner by a git URL"
    write(repo, "pyproject.toml", pinned)
    write(repo, "noxfile.py", adopting_noxfile())
    write(repo, ".gitignore", ".nox/\n")
    # The short docker.yaml, calling this repository's workflows by reference: the lint
    # checks it (actionlint, and a build job for each level of the graph).
    write(repo, ".github/workflows/docker.yaml", guide_block("yaml"))
    env = clean_env()
    locked = subprocess.run(
        ["uv", "lock"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert locked.returncode == 0, locked.stderr
    commit_all(repo, "adopt the runner")

    # No copy of the runner in the repository: three files of its own.
    assert not (repo / "tasks").exists()
    planned = run_nox(repo, nox_envdir / "adopter", "plan", "--json")
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert '"jupyterlab-cpu"' in planned.stdout

    documented = run_nox(repo, nox_envdir / "adopter", "docs")
    assert documented.returncode == 0, documented.stderr[-3000:]
    assert (repo / "docs/stages.md").is_file()
    commit_all(repo, "docs")

    linted = run_nox(repo, nox_envdir / "adopter", "lint")
    assert linted.returncode == 0, linted.stderr[-5000:]
    assert "lint: everything passes" in linted.stderr
