"""A package index on 127.0.0.1 that answers badly, on purpose, by the first part of the
path (a ZONE_*_URL of http://127.0.0.1:PORT/MODE):

- slow: headers at once, then the body a byte a second (each read is quick);
- slow-headers: the status line and headers a byte a second;
- huge: a 300 MB body, streamed, with no Content-Length;
- huge-declared: the same, its Content-Length saying so;
- any name in `answers`: that body, status 200, as JSON.

Slow and huge answers stop when the client goes away.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Mapping
from typing import ClassVar

HUGE = 300 * 10**6
_CHUNK = b'"1.0", ' * (2**20 // 7)


class FakeIndex:
    def __init__(self, answers: Mapping[str, bytes] | None = None):
        handler = type("Handler", (_Handler,), {"answers": dict(answers or {})})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIndex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, bytes]] = {}
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        mode = self.path.strip("/").split("/", 1)[0]
        try:
            if mode == "slow":
                self._head(200, 1000)
                self._trickle(b'{"versions": [' + b" " * 1000)
            elif mode == "slow-headers":
                self._trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 50)
            elif mode in ("huge", "huge-declared"):
                self._head(200, HUGE if mode == "huge-declared" else None)
                self.wfile.write(b'{"versions": [')
                for _ in range(HUGE // len(_CHUNK)):
                    self.wfile.write(_CHUNK)
            elif mode in self.answers:
                self._head(200, len(self.answers[mode]))
                self.wfile.write(self.answers[mode])
            else:
                self._head(404, 0)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what it should do

    def _head(self, status: int, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        if length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _trickle(self, payload: bytes) -> None:
        for byte in payload:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(1)

    def log_message(self, *args: object) -> None:  # quiet
        pass
