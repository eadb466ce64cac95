"""nox -s docs as a user runs it: the file written, a bad bake file said once."""

from __future__ import annotations

from pathlib import Path

from tasks.reports import docs
from tasks.tests.support import make_stack, run_tasks


def test_docs_command_writes_the_file_and_lint_sees_when_it_goes_stale(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    assert docs.stale(repo, repo / "docker-bake.hcl") == "missing: run `nox -s docs`"
    result = run_tasks(repo, "docs")
    assert result.returncode == 0, result.stderr
    assert "wrote docs/stages.md" in result.stderr
    assert "s_sas_kernel --> s_sas" in (repo / "docs/stages.md").read_text()
    assert docs.stale(repo, repo / "docker-bake.hcl") is None

    bake = repo / "docker-bake.hcl"
    bake.write_text(bake.read_text() + '\ntarget "extra" {\n  context = "images/extra"\n}\n')
    assert "run `nox -s docs`" in (docs.stale(repo, bake) or "")


def test_docs_command_reports_a_bad_bake_file_in_one_message(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    (repo / "docker-bake.hcl").write_text('target "a" {\n  context = \n}\n')
    result = run_tasks(repo, "docs")
    assert result.returncode == 2
    assert "docker-bake.hcl:" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / "docs/stages.md").exists()
