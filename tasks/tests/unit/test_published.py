"""The result table that push and retag share: its rows, its terminal form (digests never
cut) and its job summary (read back from the file GitHub Actions would show). No engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.registry import published
from tasks.registry.published import Published
from tasks.stack.references import ImageRef

DIGEST = "sha256:" + "ab" * 32
LONG = "localhost:5000/a-rather-long-namespace-for-a-ci-log/jupyterlab-cpu"


def _written(name: str, *tag_names: str) -> list[Published]:
    return [Published(ImageRef.parse(name).with_tag(tag), DIGEST) for tag in tag_names]


def test_one_row_a_tag_in_the_order_written() -> None:
    items = _written("localhost:5000/team/base", "0123abcd", "master", "latest")
    assert published.rows(items) == [
        ("localhost:5000/team/base", "0123abcd", DIGEST),
        ("localhost:5000/team/base", "master", DIGEST),
        ("localhost:5000/team/base", "latest", DIGEST),
    ]


def test_the_terminal_table_keeps_every_digest_whole(capsys: pytest.CaptureFixture[str]) -> None:
    published.show(_written(LONG, "master"), "Pushed (the registry serves these digests)")
    shown = capsys.readouterr().err
    assert "Pushed (the registry serves these digests)" in shown
    line = next(line for line in shown.splitlines() if DIGEST in line)
    assert LONG in line and "master" in line  # one line, however narrow the terminal


def test_nothing_written_shows_no_table(capsys: pytest.CaptureFixture[str]) -> None:
    published.show([], "Pushed before the failure")
    assert capsys.readouterr().err == ""


def test_the_job_summary_has_the_same_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    published.show(_written("zone/sas", "master"), "terminal only", summary_title="Pushed")
    published.show(_written("zone/mid", "feature"), "no summary")
    assert path.read_text().splitlines() == [
        "### Pushed",
        "",
        "| image | tag | digest |",
        "| --- | --- | --- |",
        rf"| zone\/sas | master | `{DIGEST}` |",  # text escaped, the digest as code
        "",
    ]
