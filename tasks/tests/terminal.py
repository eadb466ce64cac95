"""`python -m tasks ...` with stderr on a pseudo-terminal, as a person at a terminal runs it:
stdout stays a pipe (what `--json | jq` reads), stderr is a tty of a known size."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tasks.tests.support import PROJECT

SHOW_CURSOR = "\x1b[?25h"  # what a live display writes as it closes
ROWS, COLUMNS = 40, 160


@dataclasses.dataclass
class Ran:
    returncode: int
    stdout: str
    terminal: str  # everything written to the terminal, escape sequences and all
    interrupted: bool  # whether SIGINT was sent


def in_terminal(
    repo: Path,
    *args: str,
    env: dict[str, str],
    interrupt_when: Callable[[str], bool] | None = None,
    timeout: float = 600,
) -> Ran:
    """Run the runner with stderr on a pty; with `interrupt_when`, send SIGINT (as Ctrl-C)
    the first time it holds for what the terminal shows, re-asked on each output and at
    least every 0.2 s (its events may come from elsewhere, e.g. a registry proxy)."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    terminal_env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tasks", *args],
        cwd=repo,
        env={**terminal_env, "TERM": "xterm-256color", "PYTHONPATH": str(PROJECT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    stdout: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()), daemon=True)
    reader.start()
    seen = bytearray()
    interrupted = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not chunk:
                    break
                seen += chunk
            if interrupt_when and not interrupted and interrupt_when(seen.decode(errors="replace")):
                process.send_signal(signal.SIGINT)
                interrupted = True
        else:
            process.kill()
            raise AssertionError(f"still running after {timeout} s: {seen.decode()[-2000:]}")
    finally:
        os.close(leader)
    code = process.wait(timeout=60)
    reader.join(timeout=60)
    return Ran(code, b"".join(stdout).decode(), seen.decode(errors="replace"), interrupted)
