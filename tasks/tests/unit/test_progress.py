"""tasks/shared/progress.py on its own: which display each kind of stderr gets, and what the plain
lines say for the engine's push and pull messages (as the engine writes them)."""

from __future__ import annotations

import io
import re
import threading

import pytest
from rich.console import Console

from tasks.shared import progress

# A push as the engine streams it (containerd image store): one layer sent in two steps,
# one already in the registry, one mounted from another repository, then the digest.
PUSH = [
    {"status": "The push refers to repository [127.0.0.1:5000/x/sas]"},
    {"status": "Preparing", "progressDetail": {}, "id": "aaa"},
    {"status": "Pushing", "progressDetail": {"total": 4_000_000}, "id": "aaa"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "bbb"},
    {"status": "Mounted from x/sas-kernel", "progressDetail": {}, "id": "ccc"},
    {
        "status": "Pushing",
        "progressDetail": {"current": 2_000_000, "total": 4_000_000},
        "id": "aaa",
    },
    {
        "status": "Pushing",
        "progressDetail": {"current": 4_000_000, "total": 4_000_000},
        "id": "aaa",
    },
    {"status": "Pushed", "progressDetail": {}, "id": "aaa"},
    {"status": "master: digest: sha256:" + "0" * 64 + " size: 1234"},
    {"progressDetail": {}, "aux": {"Tag": "master", "Digest": "sha256:" + "0" * 64}},
]


def _console(terminal: bool, **env: str) -> tuple[Console, io.StringIO]:
    written = io.StringIO()
    return Console(file=written, force_terminal=terminal, width=120, _environ=env), written


def test_each_kind_of_stderr_gets_its_display() -> None:
    assert progress.mode(_console(True)[0], quiet=False) == progress.LIVE
    assert progress.mode(_console(False)[0], quiet=False) == progress.LINES
    assert progress.mode(_console(True, TERM="dumb")[0], quiet=False) == progress.LINES
    assert progress.mode(_console(True)[0], quiet=True) == progress.OFF
    # NO_COLOR takes the colour, not the bars.
    console, _ = _console(True, NO_COLOR="1")
    assert progress.mode(console, quiet=False) == progress.LIVE and console.no_color


def test_plain_lines_say_each_layer_once_and_the_end() -> None:
    console, written = _console(False)
    with progress.Display(console=console) as display:
        transfer = display.transfer("sas:master", "sent")
        for message in PUSH:
            transfer.feed(message)
        transfer.finish()
    first, second, last = written.getvalue().splitlines()
    assert first == "sas:master: layer ccc mounted from x/sas-kernel"
    assert second == "sas:master: layer aaa sent (4.0 MB)"
    assert re.fullmatch(
        r"sas:master: done, 3 layers \(4\.0 MB sent, 2 already there\) in \d+s", last
    )
    assert (transfer.done, transfer.moved, transfer.known) == (3, 4_000_000, 4_000_000)


def test_a_long_transfer_says_how_far_it_is_at_most_every_interval() -> None:
    console, written = _console(False)
    with progress.Display(console=console, every=0) as display:  # every message is "late"
        transfer = display.transfer("sas:master", "received")
        transfer.feed(
            {"status": "Downloading", "progressDetail": {"current": 1, "total": 4}, "id": "a"}
        )
    said = written.getvalue()
    assert re.fullmatch(
        r"sas:master: 1 B of 4 B received \(25 %\), 0/1 layers, \d+s so far\n", said
    )
    console, written = _console(False)
    with progress.Display(console=console, every=3600) as display:  # none is
        transfer = display.transfer("sas:master", "received")
        for current in range(1, 100):
            detail = {"current": current, "total": 100}
            transfer.feed({"status": "Downloading", "progressDetail": detail, "id": "a"})
    assert written.getvalue() == ""


def test_messages_about_the_image_are_not_layers() -> None:
    console, _ = _console(False)
    with progress.Display(console=console) as display:
        transfer = display.transfer("sas:master", "received")
        transfer.feed({"status": "Pulling from x/sas", "id": "master"})
        transfer.feed({"status": "Digest: sha256:" + "0" * 64})
        transfer.feed(
            {"status": "Pushing", "progressDetail": {"current": -3, "total": "x"}, "id": "a"}
        )
    assert list(transfer.layers) == ["a"] and transfer.moved == transfer.known == 0


def test_items_from_many_threads_count_once_each() -> None:
    console, written = _console(False)
    with progress.Display(console=console) as display:
        items = display.items("pins", 20)

        def one(number: int) -> None:
            with items.item(f"pin {number}"):
                pass

        workers = [threading.Thread(target=one, args=(n,)) for n in range(20)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    lines = written.getvalue().splitlines()
    assert sorted(int(line.split()[1].split("/")[0]) for line in lines) == list(range(1, 21))
    assert items.finished == 20 and items.running == []


def test_an_item_that_fails_is_not_counted_done() -> None:
    console, written = _console(False)
    with progress.Display(console=console) as display:
        items = display.items("scans", 2)
        with pytest.raises(RuntimeError), items.item("sas"):
            raise RuntimeError("syft failed")
    assert items.finished == 0 and written.getvalue() == ""


def test_quiet_prints_nothing_and_a_live_display_shows_the_cursor_as_it_closes() -> None:
    console, written = _console(False)
    with progress.Display(quiet=True, console=console) as display:
        transfer = display.transfer("sas:master", "sent")
        for message in PUSH:
            transfer.feed(message)
        transfer.finish()
    assert written.getvalue() == ""
    console, written = _console(True)
    with pytest.raises(KeyboardInterrupt), progress.Display(console=console) as display:
        display.transfer("sas:master", "sent").feed(PUSH[2])
        raise KeyboardInterrupt
    assert written.getvalue().endswith("\x1b[?25h")  # the cursor back, last of all


def test_control_characters_in_names_are_escaped_in_plain_lines() -> None:
    console, written = _console(False)
    with progress.Display(console=console) as display:
        display.items("pins", 1).done("evil\x1b[2Jname")
    assert "\x1b" not in written.getvalue() and "\\x1b[2J" in written.getvalue()


def test_a_finished_row_says_what_moved() -> None:
    console, written = _console(True)
    with progress.Display(console=console) as display:
        there = display.transfer("sas:v2", "sent")
        there.feed({"status": "Layer already exists", "progressDetail": {}, "id": "a"})
        there.finish()
        quick = display.transfer("sas:master", "received")  # in before its size was said
        quick.feed({"status": "Pulling fs layer", "progressDetail": {}, "id": "b"})
        quick.feed({"status": "Pull complete", "progressDetail": {}, "id": "b"})
        quick.finish()
    last = written.getvalue().rsplit("\x1b[2K", 1)[-1]
    assert "sas:v2" in last and "100 % 1/1 layers · every layer already there" in last
    assert "sas:master" in last and "100 % 1/1 layers · done, sizes not said" in last
