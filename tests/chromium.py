"""Headless Chromium for the image tests: Debian's chromium, driven through its chromedriver.

One browser serves a whole pytest session. It records every request a page makes (Chrome's
performance log), so a test can check that nothing left $NB_PREFIX, not only the final URL.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

INSTALL_HINT = "install chromium: bash .ci/provision-docker.sh"
# Debian's packages install these names (ZONE_CHROMIUM, ZONE_CHROMEDRIVER: other names or
# paths); either may be missing where nobody provisioned.
CHROMIUM = os.environ.get("ZONE_CHROMIUM") or "chromium"
CHROMEDRIVER = os.environ.get("ZONE_CHROMEDRIVER") or "chromedriver"
WINDOW = "1280,900"
PAGE_WITHIN = 90  # seconds for a page to load: a proxied app starts on its first request
# Without the background-networking flags Chromium reaches out on start (updates, sync,
# field trials); on a closed network those connections are refused, so it never tries.
FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root in CI, where the sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW}",
)
SENT = "Network.requestWillBeSent"
# Schemes of requests that travel to a server (data:, blob: and the like do not).
NETWORK_SCHEMES = ("http", "https", "ws", "wss")
# Chromium asks for the server's /favicon.ico by itself when a page names no icon: the
# browser's request, not the page's.
BROWSERS_OWN = "/favicon.ico"


class BrowserMissing(Exception):
    """chromium or chromedriver is not installed."""


@dataclass(frozen=True)
class Request:
    url: str
    kind: str  # Chrome's resource type: Document, Script, Stylesheet, WebSocket, ...
    status: int | None  # None: no response (yet), or a websocket


def start() -> tuple[webdriver.Chrome, Path]:
    """A new headless Chromium with an empty profile; returns it and its profile folder."""
    chromium, chromedriver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if not chromium or not chromedriver:
        found = {CHROMIUM: chromium, CHROMEDRIVER: chromedriver}
        missing = [name for name, path in found.items() if not path]
        raise BrowserMissing(f"{' and '.join(missing)} not on PATH: {INSTALL_HINT}")
    profile = Path(tempfile.mkdtemp(prefix="zone-chromium-"))
    options = webdriver.ChromeOptions()
    # Both paths explicit: Selenium Manager, which would download a browser, never runs.
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    except WebDriverException as exc:
        shutil.rmtree(profile, ignore_errors=True)
        raise BrowserMissing(f"chromium did not start ({exc.msg}): {INSTALL_HINT}") from None
    driver.set_page_load_timeout(PAGE_WITHIN)
    return driver, profile


def stop(driver: webdriver.Chrome, profile: Path) -> None:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Recorder:
    """The requests a page makes, read from Chrome's performance log. Reading that log
    empties it, so every read is kept here until `take` hands it out; made, it drops what
    came before (another test's requests)."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self._driver = driver
        driver.get_log("performance")
        self._entries: list[dict] = []
        self._last_sent = time.monotonic()

    def _read(self) -> None:
        more = self._driver.get_log("performance")
        if any(SENT in entry["message"] for entry in more):
            self._last_sent = time.monotonic()
        self._entries += more

    def quiet_for(self) -> float:
        """Seconds since the page last sent a request."""
        self._read()
        return time.monotonic() - self._last_sent

    def so_far(self) -> list[Request]:
        """Every request kept, still kept. One pass over all the entries: a response may
        come in a later read than its request."""
        self._read()
        return _requests(self._entries)

    def take(self) -> list[Request]:
        """Every request kept, and none kept after."""
        made = self.so_far()
        self._entries = []
        return made

    def settle(self, quiet: float, within: float) -> list[Request]:
        """`take`, once no request has been sent for `quiet` seconds (or `within` seconds
        have passed): a page's scripts go on loading after its load event."""
        deadline = time.monotonic() + within
        while self.quiet_for() < quiet and time.monotonic() < deadline:
            time.sleep(min(quiet, 0.25))
        return self.take()


def _requests(entries: list[dict]) -> list[Request]:
    made: list[list] = []  # [url, kind, status], in the order they were sent
    latest: dict[str, int] = {}  # Chrome's request id -> its latest hop in `made`
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        request_id = params.get("requestId")
        if method == SENT:
            # A redirect sends the same request id again: each hop is a request of its own.
            if request_id in latest and "redirectResponse" in params:
                made[latest[request_id]][2] = params["redirectResponse"]["status"]
            latest[request_id] = len(made)
            made.append([params["request"]["url"], params.get("type", "Other"), None])
        elif method == "Network.webSocketCreated":
            latest[request_id] = len(made)
            made.append([params["url"], "WebSocket", None])
        elif method == "Network.responseReceived" and request_id in latest:
            made[latest[request_id]][2] = params["response"]["status"]
    return [Request(url, kind, status) for url, kind, status in made]


def outside(prefix_url: str, made: list[Request]) -> list[Request]:
    """The requests that went to another server, or to a path outside `prefix_url`."""
    base = urlsplit(prefix_url)
    path = base.path.rstrip("/") + "/"
    escaped = []
    for request in made:
        url = urlsplit(request.url)
        if url.scheme not in NETWORK_SCHEMES:
            continue
        same_server = url.hostname == base.hostname and url.port == base.port
        if same_server and url.path == BROWSERS_OWN:
            continue
        if not same_server or not (url.path + "/").startswith(path):
            escaped.append(request)
    return escaped


def screenshot(driver: webdriver.Chrome, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
