"""Markdown tables for the GitHub Actions job summary ($GITHUB_STEP_SUMMARY), when it is set.

Every value is text from somewhere else (file names, branch names, reasons), so it is
escaped: it can never become a heading, a link, an image, HTML or a new table row.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence

from tasks.console import one_line, warn

# CommonMark lets a backslash escape any ASCII punctuation: escaping all of it leaves no
# markup (emphasis, links, autolinks, HTML, `|` cell ends, a leading # or > or -).
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


class Code(str):
    """A value to show as code (a digest): a code span, with nothing inside it to escape."""


def text(value: object) -> str:
    """`value` as Markdown that renders exactly as its characters, on one line."""
    # CommonMark's line endings (\r\n, \r, \n) and other control characters are shown
    # as the escapes they are: one file name stays one line, whatever it holds.
    return _PUNCTUATION.sub(r"\\\1", one_line(value))


def _code(value: str) -> str:
    if re.search(r"[`|\r\n<]", value):  # not a digest: plain text then
        return text(value)
    return f"`{value}`"


def _cell(value: object) -> str:
    """One table cell: a list is several lines (HTML breaks, the only ones a cell allows)."""
    if isinstance(value, Code):
        return _code(value)
    if isinstance(value, (list, tuple)):
        return "<br>".join(text(line) for line in value) or " "
    return text(value) or " "


def markdown(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], collapsed: bool = False
) -> str:
    """`### title` and a table, every value escaped (the job summary's and release notes'
    form). collapsed: folded under its title (a <details> block), for long lists."""
    lines = [f"### {text(title)}", ""]
    if collapsed:
        # Raw HTML: Markdown escapes do not apply inside it, HTML's own do.
        lines = [f"<details><summary>{html.escape(one_line(title))} ({len(rows)})</summary>", ""]
    if rows:
        lines.append("| " + " | ".join(_cell(column) for column in columns) + " |")
        lines.append("|" + " --- |" * len(columns))
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    else:
        lines.append("(none)")
    if collapsed:
        lines += ["", "</details>"]
    return "\n".join(lines)


def append(markdown_text: str) -> None:
    """Append Markdown made by this module's functions to the job summary, when set."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        _write(path, markdown_text)


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], collapsed: bool = False
) -> None:
    """Append `### title` and a table to the job summary; nothing outside GitHub Actions.
    collapsed: the table folded under its title (a <details> block), for long lists."""
    append(markdown(title, columns, rows, collapsed))


def _write(path: str, markdown_text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(markdown_text.rstrip("\n") + "\n\n")
    except OSError as exc:
        # The summary is for people; a build or a push must not fail for it.
        warn(f"cannot write the job summary to {path}: {exc}")
