"""One image running locally, on 127.0.0.1, until Ctrl-C removes it: the work of
`nox -s dev` (its flags: tasks/commands/dev.py).

Another address only on purpose: Jupyter runs any code for whoever reaches it, so a host
other than loopback needs a token (`--token`) or the user's explicit `--insecure-no-token`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import webbrowser

import docker.errors
import psutil
from docker.models.containers import Container
from rich.text import Text

from tasks.console import FAILURE, ZoneError, err, note
from tasks.docker import engine, imagetest
from tasks.planning import tags
from tasks.settings import Settings
from tasks.stack import bakefile

DEFAULT_PREFIX = "/notebook/username/notebookname"
DEFAULT_PORT = 8888
WORK = "/home/jovyan/work"
READY_WITHIN = 300  # seconds: the real images take a while on a cold engine
LABELS = {"io.zone.project": "zone-kubeflow-containers", "io.zone.role": "dev"}


# Ctrl-C, a closed terminal, a supervisor's or CI's stop: each removes the container.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """A stop signal arrived, or the process that started us (nox) ended: stop and clean
    up, then exit 0."""


def _check_parent(parent: int | None) -> None:
    """SIGTERM to nox alone ends nox without a word to us, and we are handed to another
    parent: that is a stop too, or the container would outlive every process that knows
    of it."""
    if parent is not None and os.getppid() != parent:
        raise _Stop


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ZoneError(
                    f"--host {host} is not an address of this machine", hint="e.g. 127.0.0.1"
                ) from None
            return False


def choose_port(host: str, asked: int | None) -> int:
    """The asked port if free; a taken one said plainly, with the next free one offered."""
    if asked is not None and not 1 <= asked <= 65535:
        raise ZoneError(f"--port {asked} is not a port number", hint="use 1-65535, e.g. 8888")
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        raise ZoneError(
            f"--host {host!r} is not an address of this machine", hint="e.g. 127.0.0.1"
        ) from None
    start = asked or DEFAULT_PORT
    port = start
    while not _free(host, port):
        port += 1
        if port > 65535:
            raise ZoneError(f"no free port on {host} from {start} up")
    if port != start and asked is not None:
        raise ZoneError(
            f"port {start} on {host} is already in use (another dev server?)",
            hint=f"the next free one is {port}: add --port {port}",
        )
    if port != start:
        note(f"port {start} on {host} is in use: taking {port}")
    return port


def http_status(url: str, token: str | None = None, timeout: float = 2) -> int | None:
    """The HTTP status `url` answers with (sending `token` as Jupyter takes it, if given),
    None when nothing answers."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


# A URL path of unreserved characters and %XX escapes: nothing a shell, a query or a
# fragment would read.
_PATH = re.compile(r"(/([A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})*)+")


def check_prefix(prefix: str) -> None:
    """--nb-prefix is the server's base URL: a plain absolute path, as Kubeflow sets it."""
    if not prefix.startswith("/"):
        raise ZoneError(f"--nb-prefix {prefix!r} must start with /")
    segments = prefix.split("/")[1:]
    if not _PATH.fullmatch(prefix) or "" in segments[:-1] or {".", ".."} & set(segments):
        raise ZoneError(
            f"--nb-prefix {prefix!r} is not a URL path",
            hint="e.g. /notebook/username/notebookname: letters, digits, - . _ ~ and %XX "
            "escapes between single slashes, no ? # spaces or . and .. segments",
        )


def check_host(host: str) -> None:
    """Docker publishes ports on an IP address of this machine, not on a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ZoneError(
            f"--host {host!r} is not an IP address",
            hint="e.g. 127.0.0.1 (this machine only, the default) or ::1",
        ) from None
    _free(host, 0)  # port 0 is always free: this only asks whether the address is ours


def _loopback_only(host: str) -> bool:
    """Is `host` (an IP address, check_host says) reachable from this machine alone?"""
    return ipaddress.ip_address(host).is_loopback


def token_for(host: str, token: bool, insecure_no_token: bool) -> str | None:
    """The token the server will demand: generated with --token; None with none asked.
    A non-loopback host with neither flag is refused before anything is created."""
    if token and insecure_no_token:
        raise ZoneError("--token and --insecure-no-token contradict each other: choose one")
    if not token and not insecure_no_token and not _loopback_only(host):
        raise ZoneError(
            f"--host {host} would serve Jupyter beyond this machine with no token, and "
            "Jupyter runs any code for whoever reaches it",
            hint="add --token (a generated token, printed in the URL), or --insecure-no-token "
            "on a network where everyone who can reach it may run code as you",
        )
    return secrets.token_urlsafe(24) if token else None


def _reachable_addresses(host: str) -> list[str]:
    """Where a server bound to `host` answers from other machines: every non-loopback
    address of this machine for 0.0.0.0 / ::, else the host itself."""
    if host in ("0.0.0.0", "::"):
        family = socket.AF_INET6 if host == "::" else socket.AF_INET
        families = {family, socket.AF_INET} if host == "::" else {family}  # :: takes IPv4 too
        found = [
            a.address.split("%")[0]
            for entries in psutil.net_if_addrs().values()
            for a in entries
            if a.family in families
        ]
    else:
        found = [host]
    return [a for a in dict.fromkeys(found) if not ipaddress.ip_address(a).is_loopback]


def _warn_exposed(host: str, port: int, path: str, token: str | None) -> None:
    urls = [f"http://{_in_url(a)}:{port}{path}" for a in _reachable_addresses(host)]
    how = "with a token in the URL only" if token else "WITHOUT A TOKEN: anyone can run code"
    err.print(
        Text(f"exposed beyond this machine, {how}, on:", style="bold red"),
        *(Text(f"  {url}", style="red") for url in urls or [f"{host}:{port}"]),
        sep="\n",
    )


def _in_url(address: str) -> str:
    return f"[{address}]" if ":" in address else address  # IPv6 goes in brackets


def _stream_logs(container: Container) -> None:
    with contextlib.suppress(docker.errors.APIError, ValueError, OSError):
        for chunk in container.logs(stream=True, follow=True):
            err.out(chunk.decode(errors="replace").rstrip("\n"), highlight=False)


def _can_open_browser() -> bool:
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def run(settings: Settings, graph: bakefile.BakeGraph, args: argparse.Namespace, tag: str) -> int:
    """`tag`: the image's (--tag, or the branch tag bake gives)."""
    names = graph.resolve(args.image)
    if len(names) != 1:
        raise ZoneError(f"{args.image!r} names {len(names)} images; dev runs one at a time")
    stage = names[0]
    ref = tags.image_refs(settings.registry, stage, [tag])[0]
    nb_prefix = args.nb_prefix or DEFAULT_PREFIX
    check_prefix(nb_prefix)
    if args.mount and not args.mount.is_dir():
        raise ZoneError(f"--mount {args.mount}: no such folder")
    check_host(args.host)
    token = token_for(args.host, args.token, args.insecure_no_token)
    imagetest.require_local(ref, stage, args.pull, "dev", args.quiet)
    port = choose_port(args.host, args.port)
    prefix = nb_prefix.rstrip("/")

    # Signals become an exception in the main thread, so `finally` always cleans up.
    def stop(signum: int, frame: object) -> None:
        raise _Stop

    # A signal ignored from the start (nohup: SIGHUP) means "keep running": it stays so,
    # and then so does the end of our parent.
    detached = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, stop)
    parent = None if detached else os.getppid()

    # An empty value would fall back to the image's default prefix.
    environment = {"NB_PREFIX": prefix or "/"}
    if token:  # the image's start script hands it to the server
        environment["JUPYTER_TOKEN"] = token
    container = None
    try:
        # Created, kept, then started: a Ctrl-C at any point leaves `finally` a container
        # to remove, never a running one it does not know of.
        container = engine.client().containers.create(
            ref,
            name=f"zone-dev-{stage}-{uuid.uuid4().hex[:6]}",
            environment=environment,
            ports={"8888/tcp": (args.host, port)},
            labels={**LABELS, "io.zone.run": f"dev-{os.getpid()}"},
            volumes={str(args.mount.resolve()): {"bind": WORK, "mode": "rw"}}
            if args.mount
            else None,
        )
        container.start()
        threading.Thread(target=_stream_logs, args=(container,), daemon=True).start()
        shown = _in_url("127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host)
        lab = f"{prefix}/lab" + (f"?token={token}" if token else "")
        url = f"http://{shown}:{port}{lab}"
        status = f"http://{shown}:{port}{prefix}/api/status"
        deadline = time.monotonic() + READY_WITHIN
        while http_status(status, token) != 200:
            _check_parent(parent)
            container.reload()
            if container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise ZoneError(
                    f"{ref} did not answer at {url} ({container.status})",
                    hint="its logs are above",
                    exit_code=FAILURE,
                )
            time.sleep(0.5)
        if token and http_status(status) not in (401, 403):
            raise ZoneError(
                f"{ref} serves without the token it was given (JUPYTER_TOKEN)",
                hint="its start script must pass JUPYTER_TOKEN to the server; rebuild it "
                "(nox -s bake -- " + stage + ")",
                exit_code=FAILURE,
            )
        if not _loopback_only(args.host):
            _warn_exposed(args.host, port, lab, token)
        err.print(
            Text("ready: ", style="bold green"),
            Text(f"{url}  (Ctrl-C stops and removes the container)"),
            sep="",
        )
        if not args.no_browser and _can_open_browser():
            webbrowser.open(url)
        while True:
            _check_parent(parent)
            container.reload()
            if container.status in ("exited", "dead"):
                raise ZoneError(f"{ref} stopped on its own", exit_code=FAILURE)
            time.sleep(1)
    except _Stop:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            note("stopping")
        return 0
    except docker.errors.APIError as exc:
        raise ZoneError(f"cannot run {ref}: {exc.explanation or exc}", exit_code=FAILURE) from None
    finally:
        # Ignore a second Ctrl-C while removing: a half-removed container helps no one.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
            with contextlib.suppress(OSError):
                note(f"removed {container.name}")
