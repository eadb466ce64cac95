"""Markdown tables for the GitHub Actions job summary ($GITHUB_STEP_SUMMARY), when it is set."""

from __future__ import annotations

import os
from collections.abc import Sequence

from tasks.console import warn


def _cell(value: object) -> str:
    # A pipe would end the cell; a newline would end the row.
    return str(value).replace("|", "\\|").replace("\n", "<br>") or " "


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Append `### title` and a table to the job summary; nothing outside GitHub Actions."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    lines = [f"### {title}", ""]
    if rows:
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + " --- |" * len(columns))
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    else:
        lines.append("(none)")
    try:
        with open(path, "a") as handle:
            handle.write("\n".join(lines) + "\n\n")
    except OSError as exc:
        # The summary is for people; a build or a push must not fail for it.
        warn(f"cannot write the job summary to {path}: {exc}")
