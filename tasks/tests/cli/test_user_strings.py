"""Strings from users never become markup: hostile file names and ref names committed in a
real repository go through `plan` as text, in the terminal (rich), in --json, in
GITHUB_OUTPUT and in the job summary, which is read back and rendered by a CommonMark
parser (markdown-it-py, rich's own) to prove it holds no heading, link, image or HTML.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from markdown_it import MarkdownIt

from tasks.console import one_line
from tasks.shared import summary
from tasks.tests.support import clean_env, commit_all, git, run_tasks, write

# Each is a file under images/base/bin/, which the base stage copies: a reason in the plan.
HOSTILE = [
    "[/].txt",  # closes a rich style that was never opened: plan crashed on it
    "[bold red]loud[/bold red].txt",
    "a\r# Injected heading\r.txt",  # \r is a line ending to CommonMark
    "b\r\n| injected | row |.txt",
    "<img src=x onerror=alert(1)>.txt",
    "<script>alert(1)<",
    "[link](javascript:alert(1)).txt",
    "![image](x).txt",
    "`code` and | pipe.txt",
    "#hash.txt",
    "*em* _em_ ~~del~~.txt",
    "www.example.invalid",
    "\x1b[31mred.txt",  # an ANSI escape: no colour from a file name in the terminal
]
# The terminal shows five reasons a stage: these (and its parent's) go to images/sas/extra/.
TERMINAL = ["[/].txt", "[bold red]loud[/bold red].txt", "a\r# heading.txt", "\x1b[31mred.txt"]
# A branch name git accepts that is Markdown and HTML: the base ref is in the title.
BASE = "#<em>base"

MARKDOWN = MarkdownIt("commonmark").enable("table")


def paths(reasons: list[str]) -> list[str]:
    """The changed paths of a stage's reasons, without the instruction that reads them."""
    return [re.sub(r" \((COPY|ADD)[^()]*\)$", "", reason) for reason in reasons]


def rendered(markdown: str) -> str:
    return MARKDOWN.render(markdown)


def cells(page: str) -> list[list[str]]:
    """The text of every body cell, row by row, each cell split at its <br> breaks."""
    rows = re.findall(r"<tr>\n(.*?)</tr>", page.split("<tbody>", 1)[1], re.S)
    return [
        [
            [html.unescape(line) for line in cell.split("<br>")]
            for cell in re.findall(r"<td>(.*?)</td>", row)
        ]
        for row in rows
    ]


def test_summary_text_renders_as_exactly_its_characters() -> None:
    for value in [*HOSTILE, "a\\b", "&lt;b&gt;", "x\r\ny\nz", "   ", "-", "> quote", "1. list"]:
        page = rendered(summary.text(value))
        shown = one_line(value)
        assert html.unescape(re.sub(r"</?p>\n?", "", page)) == shown.strip(), (value, page)


def test_hostile_file_names_and_base_ref_stay_text(stack: Path, tmp_path: Path) -> None:
    with (stack / "images/sas/Dockerfile").open("a") as handle:
        handle.write("COPY extra/ /extra/\n")
    write(stack, "images/sas/extra/README", "read by the sas stage\n")
    commit_all(stack, "sas copies extra/")
    git(stack, "branch", BASE)
    git(stack, "checkout", "-q", "-b", "feature")
    for name in HOSTILE:
        write(stack, f"images/base/bin/{name}", "x\n")
    for name in TERMINAL:
        write(stack, f"images/sas/extra/{name}", "x\n")
    commit_all(stack, "hostile names")
    output, page = tmp_path / "github_output", tmp_path / "summary.md"
    env = clean_env(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(page), COLUMNS="500")
    result = run_tasks(stack, "plan", "--json", "--github-output", "--base", BASE, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    # --json and GITHUB_OUTPUT are whole, and hold the names exactly
    document = json.loads(result.stdout)
    base = next(s for s in document["stages"] if s["name"] == "base")
    assert sorted(paths(base["reasons"])) == sorted(f"images/base/bin/{n}" for n in HOSTILE)
    sas = next(s for s in document["stages"] if s["name"] == "sas")
    parent = "parent sas-kernel is rebuilt"
    expected = [*(f"images/sas/extra/{n}" for n in TERMINAL), parent]
    assert sorted(paths(sas["reasons"])) == sorted(expected)
    assert document["build"] == ["base", "mid", "sas-kernel", "jupyterlab-cpu", "sas"]
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(outputs["build"]) == document["build"]

    # the terminal shows the names as text: brackets kept, no colour, \r and ESC escaped
    assert "images/sas/extra/[/].txt" in result.stderr
    assert "images/sas/extra/[bold red]loud[/bold red].txt" in result.stderr
    assert "images/sas/extra/a\\r# heading.txt" in result.stderr
    assert "images/sas/extra/\\x1b[31mred.txt" in result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert f"compared with {BASE}" in result.stderr

    # the job summary: one heading, one table, no element a user string could have made
    markdown = page.read_text()
    assert "\r" not in markdown
    shown = rendered(markdown)
    assert shown.count("<h3>") == 1 and "<h1>" not in shown and "<h2>" not in shown
    assert f"<h3>Plan for feature (compared with {html.escape(BASE, quote=False)})</h3>" in shown
    for tag in ("<a ", "<img", "<script", "<em>", "<strong>", "<code>", "<del>", "<s>"):
        assert tag not in shown, tag
    rows = cells(shown)
    assert [row[0] for row in rows] == [[s] for s in document["build"]]  # one row per stage
    assert rows[0][2] == [one_line(reason) for reason in base["reasons"]]  # exactly, as text
