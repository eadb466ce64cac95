"""HTTP answers from services outside: bounded in time and in size, whatever they send.

A request has one deadline for the whole of it (connecting, redirects, headers, body):
a read timeout alone would let a server that sends a byte a second hold it for ever, so
a timer shuts the request's sockets when the deadline passes. A body is read up to a
limit and no further (a 300 MB answer must not take the runner's memory with it), and
redirects are followed here, their bodies never read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
from urllib.parse import urljoin

import requests
import requests.adapters
import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_BODY = 32 * 10**6  # bytes: the largest index page of a project is a few MB
MAX_REDIRECTS = 10
_CHUNK = 64 * 1024


class Unanswered(Exception):
    """No usable answer: the message says why (no connection, too slow, too large)."""


@dataclasses.dataclass(frozen=True)
class Answer:
    url: str  # where the answer came from, after redirects
    status: int
    body: bytes  # b"" when the body was not read
    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # lower-case names

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> object:
        """The body as JSON; Unanswered when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            raise Unanswered(f"{host(self.url)} did not answer in JSON") from None


def get(url: str, seconds: float, headers: dict[str, str] | None = None) -> Answer:
    return request("GET", url, seconds, headers)


def request(
    method: str,
    url: str,
    seconds: float,
    headers: dict[str, str] | None = None,
    read_body: bool = True,
    limit: int = MAX_BODY,
) -> Answer:
    """`method` on `url`, redirects followed, within `seconds` in all; the body (up to
    `limit` bytes) unless read_body is False. Unanswered when there is no such answer."""
    watch = _Watch(seconds)
    _watching.current = watch
    session = requests.Session()
    adapter = _Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            response = session.request(
                method,
                url,
                headers={"User-Agent": "zone-kubeflow-containers", **(headers or {})},
                timeout=(min(10.0, seconds), seconds),
                allow_redirects=False,
                stream=True,
            )
            with response:
                location = response.headers.get("Location")
                if response.is_redirect and location:
                    following = urljoin(url, location)
                    if host(following) != host(url):  # credentials stay with their host
                        headers = {
                            k: v for k, v in (headers or {}).items() if k.lower() != "authorization"
                        }
                    url = following
                    continue
                body = _body(response, url, limit) if read_body else b""
                if watch.expired:  # a body cut short by the deadline is no answer
                    raise Unanswered(_late(url, seconds))
                named = {k.lower(): v for k, v in response.headers.items()}
                return Answer(url, response.status_code, body, named)
        raise Unanswered(f"{host(url)} redirected more than {MAX_REDIRECTS} times")
    # What a shut socket raises mid-read is requests' error, or below it urllib3's or OSError.
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if watch.expired or isinstance(exc, requests.Timeout):
            raise Unanswered(_late(url, seconds)) from None
        raise Unanswered(f"cannot reach {host(url)}: {reason(exc)}") from None
    finally:
        watch.stop()
        _watching.current = None
        session.close()


def _body(response: requests.Response, url: str, limit: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Unanswered(_too_large(url, limit))
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):  # decompressed: a zip bomb counts in full
        body += chunk
        if len(body) > limit:
            raise Unanswered(_too_large(url, limit))
    return bytes(body)


def _late(url: str, seconds: float) -> str:
    return f"{host(url)} did not answer within {seconds:g}s"


def _too_large(url: str, limit: int) -> str:
    return f"{host(url)} sent more than {limit:,} bytes, the most an answer may have"


def host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Name or service not known", "No address associated", "Connection refused"):
        if known in text:
            return known.lower()
    if "Failed to resolve" in text or "NameResolutionError" in text:
        return "its name does not resolve"
    return text[-200:]


# --- the deadline: a timer that shuts every socket the request opened --------------------


class _Watch:
    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def stop(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    """Ends every read and write on `sock`, from another thread: the blocked read returns.
    (socket.socket's own shutdown: a TLS socket's would also drop its TLS state.)"""
    with contextlib.suppress(OSError):  # closed already
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watching(threading.local):
    current: _Watch | None = None


_watching = _Watching()  # the request this thread is making


def _watched(connection: HTTPConnection) -> None:
    watch = _watching.current
    if watch is not None and connection.sock is not None:
        watch.add(connection.sock)


class _Connection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)


class _TLSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests as it is (proxies from the environment, its certificates), on connections
    the deadline can shut."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def proxy_manager_for(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        return manager
