"""The bars of the largest new layers: the Mermaid chart of the job summary (its sizes,
top N and "others", labels no instruction text can break out of) and the terminal's bar
of plain characters. No engine."""

from __future__ import annotations

import io
import re

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from tasks import charts, cost
from tasks.charts import Bar
from tasks.commands import cost as cost_command
from tasks.cost import NEW, SHARED, Cost, LayerCost

# The xychart grammar's number token, and what a quoted label may hold there (no `"`),
# less what Mermaid reads before its grammar (`%%` comments, `#name;` entities, `;`).
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")
HOSTILE = [
    'RUN echo "a"; x-axis ["pwned"]',
    "RUN echo %% comment %%{init: {}}%%",
    "RUN echo #quot; #35; &amp; <script>alert(1)</script>",
    "COPY ``` fence\n```mermaid\ngraph TD\n",
    "RUN printf '\\x1b[31mred\\r\\n' | tee [bold]loud[/bold]",
    "ENV A=1 B=${B:-2} C={x} D=[y] E=|z|",
    "",
    "\t \n ",
]


def _layer(number: int, instruction: str, pull: int, status: str = NEW) -> LayerCost:
    return LayerCost(f"sha256:{number:064x}", instruction, status, pull, pull * 2, "own", "image")


def _cost(*layers: LayerCost, stage: str = "jupyterlab-cpu") -> Cost:
    return Cost(stage, f"r/{stage}:new", f"r/{stage}:v2", None, layers)


def _lines(chart: str) -> dict[str, str]:
    """The chart's statements by their keyword (title, x-axis, y-axis, bar)."""
    body = chart.splitlines()
    assert body[0] == "```mermaid" and body[-1] == "```" and body[1] == "xychart-beta horizontal"
    return {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in body[2:-1]}


def _labels(axis: str) -> list[str]:
    assert axis.startswith("[") and axis.endswith("]")
    return re.findall(r'"([^"]*)"', axis)


def _values(statement: str) -> list[float]:
    inside = statement.removeprefix("[").removesuffix("]").split(", ")
    assert all(NUMBER.fullmatch(value) for value in inside), statement
    return [float(value) for value in inside]


def test_the_largest_first_then_one_others_bar_with_the_rest_summed() -> None:
    items = [("a", 5), ("b", 900), ("c", 40), ("d", 40), ("e", 7), ("f", 300), ("g", 1)]
    found = charts.bars(items, top=3)
    assert found == [
        Bar("1: b", 900),
        Bar("2: f", 300),
        Bar("3: c", 40),  # a tie keeps the given order: c before d
        Bar("others (4 layers)", 40 + 5 + 7 + 1),
    ]
    assert sum(bar.size for bar in found) == sum(size for _, size in items)


def test_no_others_bar_when_everything_fits() -> None:
    assert charts.bars([("a", 1), ("b", 2)], top=5) == [Bar("1: b", 2), Bar("2: a", 1)]
    assert charts.bars([], top=5) == []


def test_two_layers_of_one_instruction_stay_two_bars() -> None:
    chart = charts.mermaid("t", charts.bars([("RUN make", 2_000_000), ("RUN make", 1_000_000)]))
    assert _labels(_lines(chart)["x-axis"]) == ["1: RUN make", "2: RUN make"]


@pytest.mark.parametrize(
    ("sizes", "unit", "values", "top"),
    [
        ([1_800_000_000, 150_000_000, 2_500_000], "GB", [1.80, 0.15, 0.00], "1.80"),
        ([4_200_000, 1_050_000], "MB", [4.20, 1.05], "4.20"),
        ([999, 10], "B", [999.0, 10.0], "999.00"),
        ([1000, 500], "kB", [1.0, 0.5], "1.00"),
    ],
)
def test_sizes_are_scaled_to_one_unit_from_zero(
    sizes: list[int], unit: str, values: list[float], top: str
) -> None:
    chart = charts.mermaid("t", charts.bars([(f"l{i}", s) for i, s in enumerate(sizes)]))
    lines = _lines(chart)
    assert _values(lines["bar"]) == values
    # The axis starts at 0 and ends at the largest bar, in the unit the bars are in.
    assert lines["y-axis"] == f'"{unit}" 0 --> {top}'


@pytest.mark.parametrize("shown", [[], [Bar("1: a", 0), Bar("2: b", 0)]])
def test_nothing_to_draw_is_no_chart(shown: list[Bar]) -> None:
    assert charts.mermaid("nothing new", shown) == ""


def test_hostile_instructions_become_plain_words_in_one_fenced_block() -> None:
    items = [(text, 1_000_000 * (len(HOSTILE) - i)) for i, text in enumerate(HOSTILE)]
    chart = charts.mermaid('stage"; %% #x; ```', charts.bars(items, top=len(HOSTILE)))
    lines = _lines(chart)  # also: one fence in, one out, four statements between
    assert len(chart.splitlines()) == 7
    labels = _labels(lines["x-axis"])
    assert len(labels) == len(HOSTILE)
    # Each label is exactly its quoted text; the list is nothing but labels and commas.
    assert lines["x-axis"] == "[" + ", ".join(f'"{label}"' for label in labels) + "]"
    for text in [*labels, lines["title"].strip('"')]:
        assert re.fullmatch(r"[A-Za-z0-9 _.:/=+@()-]+", text), text
        assert len(text) <= charts.LABEL_CHARACTERS or text == lines["title"].strip('"')
    assert labels[-2:] == ["7: -", "8: -"]  # an empty instruction still has a label
    # In Markdown it is one code block, whatever the labels held.
    tokens = MarkdownIt("commonmark").parse(chart)
    assert [t.type for t in tokens] == ["fence"] and tokens[0].info == "mermaid"


def test_a_long_label_is_cut_and_says_so() -> None:
    cut = charts.label("RUN " + "apt-get install -y something-long " * 5)
    assert len(cut) == charts.LABEL_CHARACTERS and cut.endswith("...")


def test_the_same_input_gives_the_same_chart() -> None:
    items = [(f"RUN step {i}", (i * 7919) % 1000 * 1000) for i in range(12)]
    assert charts.mermaid("t", charts.bars(items)) == charts.mermaid("t", charts.bars(list(items)))
    # Ties are ordered by position, not by anything that varies between runs.
    tied = [("x", 5), ("y", 5), ("z", 5)]
    assert [bar.label for bar in charts.bars(tied, top=2)] == ["1: x", "2: y", "others (1 layer)"]


def test_text_bars_are_proportional_and_never_hide_a_small_layer() -> None:
    assert charts.text_bar(10, 10, width=20) == "█" * 20
    assert charts.text_bar(5, 10, width=20) == "█" * 10
    assert charts.text_bar(1, 16, width=2) == "▏"  # an eighth of a cell
    assert charts.text_bar(3, 8, width=1) == "▍"
    assert charts.text_bar(1, 10**9, width=20) == "▏"  # tiny, but there
    assert charts.text_bar(0, 10, width=20) == "" and charts.text_bar(5, 0) == ""
    assert charts.text_bar(5, 10, width=20, ascii_only=True) == "#" * 10
    assert charts.text_bar(1, 10**9, width=20, ascii_only=True) == "#"
    assert charts.share(5, 10, width=20) == "█" * 10 + " " * 10 + "  50 %"
    assert charts.share(1, 10**9, width=4) == "▏   " + "  <1 %"


def test_a_cost_chart_draws_its_new_layers_only_in_the_tables_order() -> None:
    found = _cost(
        _layer(1, "FROM upstream", 900_000_000, SHARED),
        _layer(2, "RUN mamba install big", 1_500_000_000),
        _layer(3, "", 200_000_000),
        *(_layer(10 + i, f"RUN step {i}", 10_000_000 * (i + 1)) for i in range(6)),
    )
    lines = _lines(cost.chart(found, 5))
    assert lines["title"] == '"jupyterlab-cpu: 1.91 GB new to pull"'
    assert _labels(lines["x-axis"]) == [
        "1: RUN mamba install big",
        charts.label("2: layer 000000000000 (no instruction recorded)"),
        "3: RUN step 5",
        "4: RUN step 4",
        "5: RUN step 3",
        "others (3 layers)",
    ]
    # The bars follow the terminal and summary tables: largest_new, then the rest.
    table = [f"{i}: {layer.made_by}" for i, layer in enumerate(found.largest_new(5), 1)]
    assert [charts.label(text) for text in table] == _labels(lines["x-axis"])[:5]
    assert _values(lines["bar"]) == [1.5, 0.2, 0.06, 0.05, 0.04, 0.06]
    assert cost.chart(_cost(_layer(1, "FROM upstream", 10, SHARED)), 5) == ""


def test_the_terminal_table_has_a_bar_a_layer_and_others() -> None:
    found = _cost(
        _layer(1, "RUN mamba install big", 1_500_000_000),
        *(_layer(10 + i, f"RUN step {i}", 10_000_000) for i in range(6)),
    )
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    console.print(cost_command._layer_table(found))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in shown
    rows = [line for line in shown.splitlines() if "%" in line]
    assert len(rows) == 6  # five layers and "others"
    # 1.5 GB of 1.56 GB: 11 cells and a half of 12; each 10 MB its smallest mark.
    assert cost_command.BAR_CELLS == 12
    assert "RUN mamba install big" in rows[0]
    assert "█" * 11 + "▌" in rows[0] and "96 %" in rows[0]
    assert all("▏" in line and "█" not in line and "1 %" in line for line in rows[1:5])
    assert "others (2 layers)" in rows[5] and "20.00 MB" in rows[5] and "▏" in rows[5]
