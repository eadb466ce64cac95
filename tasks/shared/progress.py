"""How far long work is (pushes, pulls, scans, checks), on stderr, for people.

One display per command, used as a context manager; it always closes (also on Ctrl-C), so
the cursor is shown again and what follows prints below it. Three ways to show:

- live: stderr is a terminal (not TERM=dumb): rich bars, one row per image or batch.
- lines: stderr is a CI log or a pipe: no bars and no control characters; one line per
  layer or item as it finishes, and at most one "still moving" line per ~10 s per image.
- off: --quiet. Notes, warnings, errors and the tables still print; only this goes.

NO_COLOR takes the colour away (rich reads it), not the display: no-color.org asks only
that colour goes, and the bars say how far a push is without it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.text import Text

from tasks.console import err, one_line
from tasks.shared import sizes

LIVE, LINES, OFF = "live", "lines", "off"
EVERY = 10.0  # seconds between two "still moving" lines of one transfer in lines mode

# The engine's per-layer statuses (push and pull streams). Any other message with an id
# ("Pulling from x", the tag's "Digest: ...") is about the image, not a layer.
_MOVING = {"Pushing", "Downloading"}
_WAITING = {"Preparing", "Waiting", "Pulling fs layer", "Verifying Checksum", "Extracting"}
_DONE = {"Pushed", "Pull complete", "Download complete"}
_THERE = {"Layer already exists", "Already exists"}  # done without a byte moved


def mode(console: Console, quiet: bool) -> str:
    if quiet:
        return OFF
    if console.is_terminal and not console.is_dumb_terminal:
        return LIVE
    return LINES


def size(count: float) -> str:
    return sizes.size(count, places=1)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Detail(ProgressColumn):
    """Everything after the bar, from the task's own fields: a transfer's layers, bytes,
    rate and time left; a batch's k of n and what it is working on."""

    def render(self, task: Task) -> Text:
        fields = task.fields
        if fields.get("kind") == "items":
            now = f" · {fields['current']}" if fields.get("current") else ""
            return Text(f"{int(task.completed)}/{int(task.total or 0)} done{now}")
        parts = [f"{fields.get('layers', '0/0')} layers"]
        over = bool(fields.get("over"))
        if over and fields.get("there"):
            parts.append("every layer already there")
        elif over and not task.total:  # the stream ended before it said any layer's size
            parts.append("done, sizes not said")
        else:
            parts.append(f"{size(task.completed)}/{size(task.total or 0)} {fields.get('verb', '')}")
        if task.speed and not over:
            parts.append(f"{size(task.speed)}/s")
        if task.time_remaining is not None and not over and task.speed:
            parts.append(f"{_duration(task.time_remaining)} left")
        return Text(" · ".join(parts))


class _Percent(ProgressColumn):
    """100 % once finished, even when no byte had to move (every layer was there)."""

    def render(self, task: Task) -> Text:
        # A transfer's total grows as layers are announced: only its end is its 100 %.
        over = task.fields.get("over") if task.fields.get("kind") == "transfer" else task.finished
        percent = 100.0 if over else task.percentage
        return Text(f"{percent:3.0f} %")


class Display:
    """The one progress display of a command: `with Display(quiet) as display:`."""

    def __init__(self, quiet: bool = False, console: Console = err, every: float = EVERY):
        self.console = console
        self.mode = mode(console, quiet)
        self.every = every
        self._bars: Progress | None = None

    def __enter__(self) -> Display:
        if self.mode == LIVE:
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _Percent(),
                _Detail(),
                console=self.console,
                refresh_per_second=5,
            )
            self._bars.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the live display (the cursor shown again); safe to call twice."""
        bars, self._bars = self._bars, None
        if bars is not None:
            bars.stop()

    def line(self, text: str) -> None:
        """One plain line (lines mode): no markup, no highlighting, control characters
        escaped, so a CI log holds exactly what was said."""
        self.console.print(Text(one_line(text)), highlight=False, markup=False)

    def transfer(self, label: str, verb: str) -> Transfer:
        """A push (verb "sent") or pull ("received") of one image, fed the engine's stream."""
        bars = self._bars
        task = bars.add_task(label, total=0, kind="transfer", verb=verb) if bars else None
        return Transfer(self, label, verb, task)

    def items(self, label: str, total: int, lines: bool = True) -> Items:
        """k of `total` items (scans, pins), done in any order, from any thread. lines=False:
        the caller prints its own line per item, so lines mode adds none."""
        task = (
            self._bars.add_task(label, total=total, kind="items", current="")
            if self._bars
            else None
        )
        return Items(self, label, total, task, lines)

    def _update(self, task: TaskID | None, **values: Any) -> None:
        if self._bars is not None and task is not None:
            self._bars.update(task, **values)


@dataclasses.dataclass
class _Layer:
    current: int = 0
    total: int = 0
    done: bool = False
    there: bool = False  # already in the registry (or the engine): nothing moved


class Transfer:
    """One image's push or pull: layers done of those seen, bytes moved of those known."""

    def __init__(self, display: Display, label: str, verb: str, task: TaskID | None):
        self.display = display
        self.label = label
        self.verb = verb
        self.task = task
        self.layers: dict[str, _Layer] = {}
        self.started = time.monotonic()
        self.last_line = self.started

    @property
    def moved(self) -> int:
        return sum(layer.current for layer in self.layers.values())

    @property
    def known(self) -> int:
        return sum(layer.total for layer in self.layers.values())

    @property
    def done(self) -> int:
        return sum(layer.done for layer in self.layers.values())

    def feed(self, message: dict[str, Any]) -> None:
        """One message of the engine's push or pull stream."""
        layer_id, status = message.get("id"), str(message.get("status", ""))
        mounted = status.startswith("Mounted from")
        if not isinstance(layer_id, str) or not (
            status in _MOVING | _WAITING | _DONE | _THERE or mounted
        ):
            return
        layer = self.layers.setdefault(layer_id, _Layer())
        detail = message.get("progressDetail") or {}
        if status in _MOVING and isinstance(detail, dict):
            layer.total = _count(detail.get("total"), layer.total)
            layer.current = min(_count(detail.get("current"), layer.current), layer.total)
        elif status in _DONE and not layer.done:
            layer.done, layer.current = True, layer.total
            # A small layer can arrive before the engine said its size.
            said = f" ({size(layer.total)})" if layer.total else ""
            self._finished_layer(layer_id, layer, f"{self.verb}{said}")
        elif (status in _THERE or mounted) and not layer.done:
            layer.done = layer.there = True
            if mounted:
                self._finished_layer(layer_id, layer, status.lower())
        self._show()

    def _finished_layer(self, layer_id: str, layer: _Layer, how: str) -> None:
        if self.display.mode == LINES:
            self.display.line(f"{self.label}: layer {layer_id} {how}")

    def _show(self) -> None:
        layers = f"{self.done}/{len(self.layers)}"
        self.display._update(self.task, total=self.known, completed=self.moved, layers=layers)
        now = time.monotonic()
        if self.display.mode == LINES and now - self.last_line >= self.display.every:
            self.last_line = now
            share = f" ({100 * self.moved / self.known:.0f} %)" if self.known else ""
            self.display.line(
                f"{self.label}: {size(self.moved)} of {size(self.known)} {self.verb}{share}, "
                f"{layers} layers, {_duration(now - self.started)} so far"
            )

    def finish(self) -> None:
        """The stream ended well: every layer is done, the bar at 100 %."""
        for layer in self.layers.values():
            layer.done, layer.current = True, layer.total
        total = self.known
        there = sum(layer.there for layer in self.layers.values())
        count = len(self.layers)
        self.display._update(
            self.task,
            total=total,
            completed=total,
            layers=f"{count}/{count}",
            over=True,
            there=bool(count) and there == count,
        )
        if self.display.mode == LINES:
            already = f", {there} already there" if there else ""
            moved = f"{size(total)} {self.verb}" if total or there == count else "sizes not said"
            self.display.line(
                f"{self.label}: done, {count} layers ({moved}{already}) "
                f"in {_duration(time.monotonic() - self.started)}"
            )


def _count(value: object, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default


class Items:
    """A batch of items (scans, pins): which ones are running, how many are done."""

    def __init__(
        self, display: Display, label: str, total: int, task: TaskID | None, lines: bool = True
    ):
        self.display = display
        self.lines = lines
        self.label = label
        self.total = total
        self.task = task
        self.running: list[str] = []
        self.finished = 0
        self._lock = threading.Lock()

    @contextmanager
    def item(self, name: str) -> Iterator[None]:
        """Work on one item: shown while it runs, counted (and, in lines mode, said) when
        it ends well."""
        with self._lock:
            self.running.append(name)
            self._show()
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.running.remove(name)
                self._show()
        self.done(name, f"{_duration(time.monotonic() - started)}")

    def done(self, name: str, how: str = "") -> None:
        """One item more is done (for work that reports its own ends)."""
        with self._lock:
            self.finished += 1
            self._show()
            if self.display.mode == LINES and self.lines:
                said = f" ({how})" if how else ""
                self.display.line(f"{self.label}: {self.finished}/{self.total} {name}{said}")

    def _show(self) -> None:
        self.display._update(self.task, completed=self.finished, current=", ".join(self.running))
