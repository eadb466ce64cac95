"""What push and retag wrote to a registry: one table of image, tag and digest, shown in
the terminal and, in GitHub Actions, in the job summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from tasks.console import err
from tasks.shared import summary
from tasks.stack.references import ImageRef

COLUMNS = ("image", "tag", "digest")


@dataclasses.dataclass(frozen=True)
class Published:
    ref: ImageRef  # with the tag that was written
    digest: str  # what the registry serves for it


def rows(published: Sequence[Published]) -> list[tuple[str, str, str]]:
    """One row a tag, in the order they were written."""
    return [(item.ref.name, item.ref.tag or "", item.digest) for item in published]


def show(published: Sequence[Published], title: str, summary_title: str | None = None) -> None:
    """The table on stderr, never wrapped (logs keep every digest whole), and with a
    summary_title in the job summary too."""
    lines = rows(published)
    if summary_title is not None:
        summary.table(summary_title, COLUMNS, [(*row[:2], summary.Code(row[2])) for row in lines])
    if not lines:
        return
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, no_wrap=True)
    for row in lines:
        table.add_row(*row)
    # As wide as the rows need, whatever the terminal (or a CI log's 80 columns) says.
    width = max(sum(map(len, row)) for row in lines) + 11
    Console(stderr=True, width=max(width, err.width), highlight=False).print(table)
