"""uv.lock: every session installs from it, and a lock stale against pyproject.toml stops
the session with uv's one message to run `uv lock`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.tests.support import PROJECT, clean_env, make_stack, run_nox

UV = str(Path(sys.executable).with_name("uv"))  # the selftest venv's, as uv.lock pins it


def test_the_lock_is_current_and_pins_the_runner_its_extras_and_every_group() -> None:
    checked = subprocess.run(
        [UV, "lock", "--check", "--offline"], cwd=PROJECT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    chosen = [["--all-extras", "--no-default-groups"]]
    chosen += [["--only-group", group] for group in ("selftest", "nox")]
    for flags in chosen:
        exported = subprocess.run(
            [UV, "export", "--frozen", *flags, "--no-hashes"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
        )
        assert exported.returncode == 0, exported.stderr
        assert "==" in exported.stdout, flags  # pinned versions, not bounds
        if "--all-extras" in flags:  # the runner, its extras' tools
            assert "prek==" in exported.stdout and "selenium==" in exported.stdout


def test_a_stale_lock_stops_the_session_with_uv_lock(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    assert '"rich>=13"' in text
    pyproject.write_text(text.replace('"rich>=13"', '"rich>=13.1"'))
    # A venv folder of its own: a synced venv from the same files would be left as it is.
    failed = run_nox(repo, tmp_path / "envs", "plan", env=clean_env())
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    assert "The lockfile at `uv.lock` needs to be updated" in output
    assert "run `uv lock`" in output
    assert "Traceback" not in output
    # `uv lock` (what the message says) makes the session run again.
    subprocess.run([UV, "lock", "--quiet"], cwd=repo, check=True)
    planned = run_nox(repo, tmp_path / "envs", "plan", "--json", env=clean_env())
    assert planned.returncode == 0, planned.stderr
    assert '"stages"' in planned.stdout


# --- what a newcomer sees first ---------------------------------------------------------


def _nox(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nox", "--envdir", str(folder / "envs"), *args]
    return subprocess.run(
        argv, cwd=folder, env=clean_env(**env), capture_output=True, text=True, timeout=300
    )


def test_no_uv_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    # UV names the uv nox must use, and nox then looks nowhere else: here, none.
    result = _nox(repo, "-s", "plan", UV=str(tmp_path / "no-uv-here"))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "No backends present" not in output
    assert "nox here needs uv, which is not installed: pip install uv" in result.stderr
    assert not (repo / "envs").exists()  # stopped before any venv was made


def test_a_noxfile_without_its_lock_is_one_line(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack", with_runner=True)
    (repo / "uv.lock").unlink()
    result = _nox(repo, "-s", "plan")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "FileNotFoundError" not in output
    assert "uv.lock must be beside the noxfile" in result.stderr
    assert "run `uv lock` here" in result.stderr
