"""`nox -s dev`: one image running locally, on 127.0.0.1, until Ctrl-C removes it."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
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

from tasks import bakefile, engine, imagetest, tags
from tasks.console import FAILURE, ZoneError, err, note
from tasks.settings import Settings

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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stream_logs(container) -> None:
    with contextlib.suppress(docker.errors.APIError, ValueError, OSError):
        for chunk in container.logs(stream=True, follow=True):
            err.out(chunk.decode(errors="replace").rstrip("\n"), highlight=False)


def _can_open_browser() -> bool:
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def run(settings: Settings, graph: bakefile.BakeGraph, args: argparse.Namespace) -> int:
    names = graph.resolve(args.image)
    if len(names) != 1:
        raise ZoneError(f"{args.image!r} names {len(names)} images; dev runs one at a time")
    stage = names[0]
    tag = args.tag or imagetest.default_tag(settings)
    ref = tags.image_refs(settings.registry, stage, [tag])[0]
    nb_prefix = args.nb_prefix or DEFAULT_PREFIX
    if not nb_prefix.startswith("/"):
        raise ZoneError(f"--nb-prefix {nb_prefix!r} must start with /")
    if args.mount and not args.mount.is_dir():
        raise ZoneError(f"--mount {args.mount}: no such folder")
    imagetest.require_local(ref, stage, args.pull, "dev")
    port = choose_port(args.host, args.port)
    prefix = nb_prefix.rstrip("/")

    # Signals become an exception in the main thread, so `finally` always cleans up.
    def stop(signum, frame):
        raise _Stop

    # A signal ignored from the start (nohup: SIGHUP) means "keep running": it stays so,
    # and then so does the end of our parent.
    detached = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, stop)
    parent = None if detached else os.getppid()

    container = None
    try:
        # Created, kept, then started: a Ctrl-C at any point leaves `finally` a container
        # to remove, never a running one it does not know of.
        container = engine.client().containers.create(
            ref,
            name=f"zone-dev-{stage}-{uuid.uuid4().hex[:6]}",
            # An empty value would fall back to the image's default prefix.
            environment={"NB_PREFIX": prefix or "/"},
            ports={"8888/tcp": (args.host, port)},
            labels={**LABELS, "io.zone.run": f"dev-{os.getpid()}"},
            volumes={str(args.mount.resolve()): {"bind": WORK, "mode": "rw"}}
            if args.mount
            else None,
        )
        container.start()
        threading.Thread(target=_stream_logs, args=(container,), daemon=True).start()
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        if ":" in shown:  # an IPv6 address goes in brackets in a URL
            shown = f"[{shown}]"
        url = f"http://{shown}:{port}{prefix}/lab"
        deadline = time.monotonic() + READY_WITHIN
        while not _answers(f"http://{shown}:{port}{prefix}/api/status"):
            _check_parent(parent)
            container.reload()
            if container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise ZoneError(
                    f"{ref} did not answer at {url} ({container.status})",
                    hint="its logs are above",
                    exit_code=FAILURE,
                )
            time.sleep(0.5)
        err.print(f"[bold green]ready:[/] {url}  (Ctrl-C stops and removes the container)")
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
