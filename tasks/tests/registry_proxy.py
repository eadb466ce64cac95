"""A registry that stops at an exact point: an HTTP proxy in front of a real one.

Stopping the real registry "after the immutable tags" cannot be timed from outside: the
pushes follow each other within milliseconds. This proxy forwards every request to a
real docker-registry until the push of one tag more than it was told to let through
reaches its manifest; from then on it refuses every request and connection, as a
registry that went down does. It can also be slow (`delay` seconds before each request
goes on), so that a command is surely mid-way when a test interrupts it, and it records
every request (`requests`: method and path, in order of arrival) and what it answered
(`answered`: method, path and the bytes of the body sent back). With `hold_writes` it
never answers a manifest write: each one waits (`held` is set when the first arrives)
until the proxy is closed, and is then dropped, so a command is surely mid-way, and stays
so, when a test interrupts it.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class CuttingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.allowed: int | None = None  # tags to let through; None: every tag
        self.tags: list[str] = []  # the tags whose manifests went through, in order
        self.cut = threading.Event()
        self.refused = 0  # requests that arrived after the cut
        self.delay = 0.0  # seconds each request waits before it goes on
        self.requests: list[tuple[str, str]] = []  # (method, path), as they arrived
        self.answered: list[tuple[str, str, int]] = []  # (method, path, body bytes sent)
        self.hold_writes = False  # manifest writes wait, unanswered, until close()
        self.held = threading.Event()  # a manifest write is waiting
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def arm(self, allowed: int) -> None:
        """Go down when the push of a tag after the next `allowed` tags reaches manifests."""
        self.tags = []
        self.allowed = allowed

    def _lets_through(self, path: str) -> bool:
        """False once a request names one tag more than allowed: the cut happens then."""
        if self.cut.is_set():
            return False
        reference = path.rsplit("/manifests/", 1)[-1]
        if "/manifests/" not in path or reference.startswith("sha256:"):
            return True
        if reference in self.tags:
            return True
        if self.allowed is not None and len(self.tags) >= self.allowed:
            self.cut.set()
            # Stop listening too: new connections are refused, as by a stopped registry.
            threading.Thread(target=self._stop_listening, daemon=True).start()
            return False
        self.tags.append(reference)
        return True

    def _stop_listening(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def close(self) -> None:
        self._release.set()
        if not self.cut.is_set():
            self._stop_listening()


def _handler(proxy: CuttingProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def handle_one_request(self) -> None:
            # The engine tries HTTPS first and falls back to HTTP only when the answer
            # to its TLS hello starts with "HTTP/", as a plain registry's does.
            if self.rfile.peek(1)[:1] == b"\x16":
                self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\n")
                self.close_connection = True
                return
            super().handle_one_request()

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()  # the empty line after the last chunk
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self) -> None:
            body = self._body()
            proxy.requests.append((self.command, self.path))
            time.sleep(proxy.delay)
            if proxy.hold_writes and self.command == "PUT" and "/manifests/" in self.path:
                proxy.held.set()
                proxy._release.wait(timeout=900)
                self.close_connection = True  # dropped without an answer
                return
            if not proxy._lets_through(self.path):
                proxy.refused += 1
                self.close_connection = True  # dropped without an answer
                return
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            # Every header line as it came (Accept comes several times), Host included:
            # the registry builds its upload URLs from it.
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    upstream.putheader(key, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            proxy.answered.append(
                (self.command, self.path, 0 if self.command == "HEAD" else len(payload))
            )
            upstream.close()

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    return Forward
