"""SAS Studio behind jupyter-server-proxy, kept under $NB_PREFIX/sasstudio.

jupyter-server-proxy forwards $NB_PREFIX/sasstudio/<path> to SAS Studio as /<path>.
SAS Studio answers with absolute redirects (Location: http://localhost:38080/SASStudio/...
or /SASStudio/...) and cookies for Path=/SASStudio, which would send the browser out of
the notebook's prefix and lose the session. rewrite_response puts both back under the
proxy's prefix. The entry point `jupyter_serverproxy_servers: sasstudio` registers it.

jupyter-server-proxy 4.5 and later put the prefix on a redirect to a path themselves
(after rewrite_response); earlier ones (the image pins 4.2) do not. Either way the
browser must get the prefix exactly once, so a redirect is left as a path for those
versions to prefix, and prefixed here for the others.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from urllib.parse import urlsplit, urlunsplit

NAME = "sasstudio"
PORT = 38080
SAS_PATH = "/SASStudio"
LAUNCHER = "/usr/local/bin/start-sasstudio"
# Seconds SAS Studio (its embedded web server) may take to answer on first start: both
# jupyter-server-proxy's timeout (it kills the launcher after that) and the launcher's
# own grace (SASSTUDIO_STARTUP), so the two never disagree.
STARTUP = 300
# SAS Studio names itself by these hosts when it builds an absolute URL.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_COOKIE_PATH = re.compile(r"(;\s*path=)([^;]*)", re.IGNORECASE)
REDIRECTS = (301, 302, 303, 307, 308)


def proxy_prefixes_redirects(version: str | None = None) -> bool:
    """Whether this jupyter-server-proxy prefixes redirects to a path itself (4.5+)."""
    if version is None:
        try:
            version = metadata.version("jupyter-server-proxy")
        except metadata.PackageNotFoundError:
            return False
    found = re.match(r"(\d+)\.(\d+)", version)
    return bool(found) and (int(found[1]), int(found[2])) >= (4, 5)


def proxy_prefix(nb_prefix: str | None = None) -> str:
    """The path the browser sees SAS Studio under: $NB_PREFIX/sasstudio."""
    base = os.environ.get("NB_PREFIX", "") if nb_prefix is None else nb_prefix
    return f"{base.rstrip('/')}/{NAME}"


def _under_prefix(path: str, prefix: str) -> str:
    if path == prefix or path.startswith(prefix + "/"):
        return path  # already rewritten (or built from the forwarded prefix)
    return prefix + path


def rewrite_location(value: str, prefix: str, proxy_adds_prefix: bool = False) -> str:
    """A redirect to SAS Studio itself becomes a path under the prefix; others stay.

    proxy_adds_prefix: the proxy will prefix a path itself, so only the host goes.
    """
    parts = urlsplit(value)
    if parts.netloc and (parts.hostname or "") not in LOCAL_HOSTS:
        return value  # another site (a sign-in service): not ours to change
    if not parts.path.startswith("/"):
        return value  # relative: the browser resolves it under the prefix already
    path = parts.path
    if proxy_adds_prefix:
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :] or "/"
    else:
        path = _under_prefix(path, prefix)
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def rewrite_cookie(value: str, prefix: str) -> str:
    """Set-Cookie's Path=/... becomes Path=<prefix>/..., so the browser sends it back."""

    def moved(match: re.Match[str]) -> str:
        path = match.group(2).strip()
        if not path.startswith("/"):
            return match.group(0)
        return match.group(1) + _under_prefix(path, prefix)

    return _COOKIE_PATH.sub(moved, value)


def rewrite_response(response) -> None:
    """jupyter-server-proxy's hook (it passes arguments by name): fix headers in place."""
    prefix = proxy_prefix()
    headers = response.headers
    if "Location" in headers:
        adds = response.code in REDIRECTS and proxy_prefixes_redirects()
        headers["Location"] = rewrite_location(headers["Location"], prefix, adds)
    cookies = headers.get_list("Set-Cookie")
    if cookies:
        del headers["Set-Cookie"]
        for cookie in cookies:
            headers.add("Set-Cookie", rewrite_cookie(cookie, prefix))


def setup_sasstudio() -> dict:
    """The server-proxy entry: started on first visit, given STARTUP seconds to answer."""
    return {
        "command": [LAUNCHER],
        "port": PORT,
        "timeout": STARTUP,
        "environment": {"SASSTUDIO_STARTUP": str(STARTUP)},
        "absolute_url": False,
        "rewrite_response": rewrite_response,
        "launcher_entry": {
            "enabled": True,
            "title": "SAS Studio",
            "path_info": f"{NAME}{SAS_PATH}",
        },
    }
