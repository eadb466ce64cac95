"""Each pin asked of its service, whether it resolves, before anyone spends two hours on a
build that stops at a missing version: the work of `nox -s pins` (tasks/commands/pins.py).

Each answer is one of: ok; missing (the service says it does not exist); wrong (it
exists but differs, e.g. a published checksum); could not ask (the service did not
answer, or refused us); skipped (nothing to ask, e.g. SAS_IMAGE set empty).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.console import FAILURE, ZoneError, err, note, out
from tasks.docker import engine
from tasks.pinning import fetch, pins
from tasks.pinning.pins import Pin
from tasks.settings import Settings
from tasks.shared import progress, shape
from tasks.shared.retry import Transient

OK, MISSING, WRONG, UNASKED, SKIPPED = "ok", "missing", "wrong", "could not ask", "skipped"
_STYLE = {OK: "green", MISSING: "bold red", WRONG: "bold red", UNASKED: "yellow", SKIPPED: "dim"}
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_HEX64 = re.compile(r"\b[0-9a-fA-F]{64}\b")
_CONDA_SUBDIRS = ("linux-64", "noarch")  # the images are linux/amd64
_CHECKSUM_FILE = 64 * 1024  # a URL.sha256 file: a line or a few
_KEY_FILE = 1024 * 1024  # an OpenPGP public key, armoured
WORKERS = 6  # requests side by side: polite to each service, quick for ~60 pins


@dataclasses.dataclass(frozen=True)
class Services:
    """Where each service is (settings: tests point them at local servers)."""

    pypi: str
    anaconda: str
    openvsx: str
    timeout: float  # seconds, for the whole of one request

    @classmethod
    def of(cls, settings: Settings) -> Services:
        return cls(
            settings.pypi_url.rstrip("/"),
            settings.anaconda_api_url.rstrip("/"),
            settings.openvsx_url.rstrip("/"),
            settings.pins_timeout,
        )


@dataclasses.dataclass(frozen=True)
class Outcome:
    pin: Pin
    status: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {**self.pin.to_json(), "status": self.status, "detail": self.detail}


class _Unasked(Exception):
    """The service did not answer, or would not, or not in its API's shape: we know
    nothing about the pin."""


def run(settings: Settings, kinds: list[str], as_json: bool, quiet: bool = False) -> int:
    """Check every pin (or those of `kinds`); exit 1 when any does not resolve."""
    unknown = sorted(set(kinds) - set(pins.KINDS))
    if unknown:
        raise ZoneError(
            f"unknown pin kind {', '.join(unknown)}", hint=f"kinds: {', '.join(pins.KINDS)}"
        )
    every = pins.load(settings.root, settings.bake_path, os.environ)
    chosen = [p for p in every if not kinds or p.kind in kinds]
    if not chosen:
        raise ZoneError("no pins to check", hint="pins are `# pin: ...` lines above ARGs")
    services = Services.of(settings)
    note(f"checking {len(chosen)} pins, {WORKERS} at a time")
    # Each pin already has its line as it is answered: the display adds the bar and the
    # pins being asked (on a terminal), no second line per pin.
    with progress.Display(quiet) as display:
        items = display.items("pins", len(chosen), lines=False)
        outcomes = check_all(chosen, every, services, on_result=_print_line, items=items)
    _print_table(outcomes)
    if as_json:
        out(json.dumps({"pins": [o.to_json() for o in outcomes], "counts": counts(outcomes)}))
    failed = [o for o in outcomes if o.status in (MISSING, WRONG)]
    unasked = [o for o in outcomes if o.status == UNASKED]
    if failed or unasked:
        parts = [f"{len(failed)} do not resolve"] if failed else []
        parts += [f"{len(unasked)} could not be checked"] if unasked else []
        hint = "fix the pins above (file:line) before building"
        if unasked:
            hint += "; 'could not ask' means the service did not answer or refused: check the "
            hint += "network, `docker login REGISTRY`, or the ZONE_*_URL settings"
        raise ZoneError(f"of {len(outcomes)} pins, {' and '.join(parts)}", hint, FAILURE)
    note(f"all {len(outcomes)} pins resolve")
    return 0


def check_all(
    chosen: list[Pin],
    every: list[Pin],
    services: Services,
    on_result: Callable[[Outcome], None] = lambda outcome: None,
    items: progress.Items | None = None,
) -> list[Outcome]:
    """Outcomes in the order of `chosen`; `every` gives sha256 pins their url pin; each
    pin an item of `items` while it is asked."""
    urls = {(p.file, p.arg): p for p in every if p.kind == "url"}
    results: dict[int, Outcome] = {}

    def checked(pin: Pin) -> Outcome:
        if items is None:
            return check(pin, services, urls)
        with items.item(_label(pin)):
            return check(pin, services, urls)

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {pool.submit(checked, pin): i for i, pin in enumerate(chosen)}
        for future in concurrent.futures.as_completed(futures):
            outcome = future.result()
            results[futures[future]] = outcome
            on_result(outcome)
    return [results[i] for i in range(len(chosen))]


def check(pin: Pin, services: Services, urls: Mapping[tuple[str, str], Pin]) -> Outcome:
    checker = _CHECKERS[pin.kind]
    try:
        status, detail = checker(pin, services, urls)
    except (_Unasked, fetch.Unanswered) as exc:
        status, detail = UNASKED, str(exc)
    return Outcome(pin, status, detail)


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    found = {status: 0 for status in (OK, MISSING, WRONG, UNASKED, SKIPPED)}
    for outcome in outcomes:
        found[outcome.status] += 1
    return {
        "pins": len(outcomes),
        **found,
        "verified by evidence": sum(o.pin.verified for o in outcomes),
    }


# --- one checker per kind: (status, detail), or _Unasked -------------------------------


def _pypi(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    """PyPI's Simple API in JSON (PEP 691; `versions` from PEP 700): what pip reads, and
    what mirrors such as Artifactory serve too."""
    project = re.sub(r"[-_.]+", "-", pin.name).lower()
    url = f"{services.pypi}/{project}/"
    answer = _get(url, services, headers={"Accept": _SIMPLE_JSON})
    if answer.status == 404:
        return MISSING, f"the index has no project {pin.name} ({url})"
    _require_success(answer, url)
    with _answer_of(url, "PEP 691 JSON"):
        page = shape.of(answer.json(), dict, "the answer")
        if page.get("versions") is not None:
            versions = shape.items(page["versions"], str, "its 'versions'")
        else:
            files = shape.items(page.get("files", []), dict, "its 'files'")
            versions = _versions_of_files(files)
    if pin.value in versions:
        return OK, f"{pin.name} {pin.value} is on the index"
    return MISSING, f"{pin.name} has no release {pin.value} (latest: {_latest(versions)})"


def _conda(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    """anaconda.org's package API: its `files` list (version, attrs.subdir, labels)."""
    url = f"{services.anaconda}/package/conda-forge/{pin.name}"
    answer = _get(url, services)
    if answer.status == 404:
        return MISSING, f"conda-forge has no package {pin.name}"
    _require_success(answer, url)
    with _answer_of(url, "anaconda.org's package JSON"):
        package = shape.of(answer.json(), dict, "the answer")
        latest = shape.field(package, "latest_version", str, "the answer", "")
        if package.get("files") is None:
            versions = set(shape.items(package.get("versions", []), str, "its 'versions'"))
        else:
            versions = set()
            for i, entry in enumerate(shape.items(package["files"], dict, "its 'files'")):
                what = f"its 'files'[{i}]"
                attrs = shape.field(entry, "attrs", dict, what, {})
                labels = shape.items(entry.get("labels") or ["main"], str, f"{what}'s 'labels'")
                subdir = shape.field(attrs, "subdir", str, f"{what}'s 'attrs'", "")
                if subdir in _CONDA_SUBDIRS and "main" in labels:
                    versions.add(shape.field(entry, "version", str, what, ""))
    matching = sorted(v for v in versions if _conda_matches(pin.value, v))
    if matching:
        shown = matching[0] if len(matching) == 1 else f"{matching[0]} ... {matching[-1]}"
        return OK, f"conda-forge has {pin.name} {shown} for linux-64"
    return MISSING, (
        f"conda-forge has no {pin.name} {pin.value} for linux-64 "
        f"(latest: {latest or _latest(versions)})"
    )


def _conda_matches(spec: str, version: str) -> bool:
    """conda's `name=4.2` means 4.2 or 4.2.*; a glob matches as written."""
    if "*" in spec:
        return fnmatch.fnmatchcase(version, spec)
    return version == spec or version.startswith(spec + ".")


def _url(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    answer = _head(pin.value, services)
    if answer.status in (404, 410):
        return MISSING, f"HTTP {answer.status}: {fetch.host(answer.url)} has no such file"
    _require_success(answer, pin.value)
    moved = f" (at {fetch.host(answer.url)})" if answer.url != pin.value else ""
    return OK, f"HTTP {answer.status}{moved}"


def _sha256(pin: Pin, services: Services, urls: Mapping[tuple[str, str], Pin]) -> tuple[str, str]:
    """Compared with the checksum the release publishes next to the file (URL.sha256),
    where it publishes one; otherwise the build's `sha256sum -c` is the check."""
    url_pin = urls[(pin.file, pin.name)]
    published = url_pin.value + ".sha256"
    answer = _get(published, services, limit=_CHECKSUM_FILE)
    if answer.status in (403, 404, 410):
        return SKIPPED, f"no checksum published at {fetch.host(published)} (URL.sha256)"
    _require_success(answer, published)
    digests = [d.lower() for d in _HEX64.findall(answer.text)]
    if not digests:
        return SKIPPED, f"{published} holds no sha256"
    if pin.value in digests:
        return OK, f"matches {published.rsplit('/', 1)[-1]}"
    return WRONG, f"{published} says {digests[0]}, the pin says {pin.value}"


def _fingerprint(
    pin: Pin, services: Services, urls: Mapping[tuple[str, str], Pin]
) -> tuple[str, str]:
    """The key file the url pin names holds a key with this fingerprint (read by gpg,
    without importing it anywhere); skipped where gpg is not installed."""
    url = urls[(pin.file, pin.name)].value
    gpg = shutil.which("gpg")
    if gpg is None:
        return SKIPPED, "gpg is not installed here: the build's own check is the check"
    answer = _get(url, services, limit=_KEY_FILE)
    _require_success(answer, url)
    # A home of its own: nothing of the user's keyring or agent is read, locked or made.
    with tempfile.TemporaryDirectory(prefix="zone-gpg-") as home:
        shown = subprocess.run(
            [gpg, "--homedir", home, "--batch", "--show-keys", "--with-colons"],
            input=answer.body,
            capture_output=True,
        )
    fingerprints = [
        line.split(":")[9]
        for line in shown.stdout.decode(errors="replace").splitlines()
        if line.startswith("fpr:")
    ]
    if pin.value in fingerprints:
        return OK, f"{url.rsplit('/', 1)[-1]} holds the key {pin.value[-16:]}"
    return WRONG, f"{url} holds {', '.join(fingerprints) or 'no key'}, the pin says {pin.value}"


def _openvsx(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    """Open VSX's registry API: GET /api/PUBLISHER/NAME/VERSION (404 with an `error`)."""
    publisher, _dot, name = pin.name.partition(".")
    url = f"{services.openvsx}/api/{publisher}/{name}/{pin.value}"
    answer = _get(url, services)
    if answer.status == 404:
        return MISSING, f"Open VSX has no {pin.name} {pin.value}"
    _require_success(answer, url)
    with _answer_of(url, "Open VSX's extension JSON"):
        found = shape.field(
            shape.of(answer.json(), dict, "the answer"), "version", str, "the answer"
        )
    if found != pin.value:
        return MISSING, f"Open VSX answered version {found!r} for {pin.name} {pin.value}"
    return OK, f"{pin.name} {pin.value} is on Open VSX"


def _apt_source(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    answer = _head(pin.value, services)
    if answer.status in (404, 410):
        return MISSING, f"HTTP {answer.status}: no repository at {pin.value}"
    _require_success(answer, pin.value)
    return OK, f"the repository answers (HTTP {answer.status})"


def _image(pin: Pin, services: Services, _: Mapping) -> tuple[str, str]:
    """The image's registry, with the engine's login (docker buildx imagetools)."""
    if not pin.value:
        return SKIPPED, f"{pin.arg} is set empty: the build goes without it"
    ref = pin.reference
    try:
        digest = engine.registry_digest(ref)
    except ZoneError as exc:  # refused: a login is missing
        raise _Unasked(f"{exc.message} ({exc.hint})") from None
    except Transient as exc:
        raise _Unasked(f"the registry did not answer: {exc}") from None
    if digest is None:
        return MISSING, f"the registry has no {ref}"
    return OK, f"{ref} is {digest}"


_CHECKERS: dict[str, Callable[[Pin, Services, Mapping], tuple[str, str]]] = {
    "pypi": _pypi,
    "conda": _conda,
    "url": _url,
    "sha256": _sha256,
    "fingerprint": _fingerprint,
    "image": _image,
    "apt-source": _apt_source,
    "openvsx": _openvsx,
}


# --- HTTP (tasks.pinning.fetch: bounded in time and size) ---------------------------------------


def _get(
    url: str,
    services: Services,
    headers: dict[str, str] | None = None,
    limit: int = fetch.MAX_BODY,
) -> fetch.Answer:
    answer = fetch.request("GET", url, services.timeout, headers, limit=limit)
    return _answered(answer, url)


def _head(url: str, services: Services) -> fetch.Answer:
    """HEAD, following redirects; hosts that refuse HEAD get a GET whose body we skip."""
    answer = fetch.request("HEAD", url, services.timeout, read_body=False)
    if answer.status in (405, 501):
        answer = fetch.request("GET", url, services.timeout, read_body=False)
    return _answered(answer, url)


def _answered(answer: fetch.Answer, url: str) -> fetch.Answer:
    if answer.status >= 500 or answer.status == 429:
        raise _Unasked(f"{fetch.host(url)} answered HTTP {answer.status}: try again later")
    return answer


def _require_success(answer: fetch.Answer, url: str) -> None:
    """Anything but a success, once "does not exist" has been handled, says nothing."""
    if answer.status in (401, 403):
        raise _Unasked(f"{fetch.host(url)} refused the request (HTTP {answer.status})")
    if not 200 <= answer.status < 300:
        raise _Unasked(f"{fetch.host(url)} answered HTTP {answer.status}")


@contextlib.contextmanager
def _answer_of(url: str, expected: str) -> Iterator[None]:
    """An answer not of the API's shape says nothing about the pin: could not ask."""
    try:
        yield
    except shape.Malformed as exc:
        raise _Unasked(f"{fetch.host(url)} did not answer in {expected}: {exc}") from None


def _versions_of_files(files: list[dict]) -> list[str]:
    """Versions from distribution file names, for an index without PEP 700's list."""
    versions = []
    for i, entry in enumerate(files):
        name = shape.field(entry, "filename", str, f"its 'files'[{i}]", "")
        if name.endswith(".whl") and name.count("-") >= 2:
            versions.append(name.split("-")[1])
        elif name.endswith((".tar.gz", ".zip")):
            versions.append(name.removesuffix(".tar.gz").removesuffix(".zip").rsplit("-", 1)[-1])
    return versions


def _latest(versions: Collection[str]) -> str:
    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+-]", version))

    return max(versions, key=key) if versions else "none"


# --- output ------------------------------------------------------------------------------


def _label(pin: Pin) -> str:
    return f"{pin.kind} {pin.name} {pin.value or '(empty)'}"


def _print_line(outcome: Outcome) -> None:
    style = _STYLE[outcome.status]
    err.print(
        f"[{style}]{outcome.status:>13}[/] {escape(_label(outcome.pin))} "
        f"[dim]({outcome.pin.where})[/]: {escape(outcome.detail)}"
    )


def _print_table(outcomes: list[Outcome]) -> None:
    table = Table(title="Pins")
    for column in ("pin", "value", "where", "evidence", "answer"):
        table.add_column(column, no_wrap=True)
    rows = [
        (f"{o.pin.kind} {o.pin.name}", o.pin.value, o.pin.where, o.pin.verified, o.status)
        for o in outcomes
    ]
    for name, value, where, verified, status in rows:
        table.add_row(
            escape(name),
            escape(value),
            where,
            "yes" if verified else "[yellow]unverified[/]",
            f"[{_STYLE[status]}]{status}[/]",
        )
    # Never wrapped: CI logs are read as lines, and a URL cut in two cannot be followed.
    texts = [(name, value, where, "unverified", UNASKED) for name, value, where, _, _ in rows]
    width = sum(max(len(c) for c in column) + 3 for column in zip(*texts, strict=True)) + 2
    Console(stderr=True, width=max(width, err.width), highlight=False).print(table)
    figures = counts(outcomes)
    err.print(
        f"{figures['pins']} pins, {figures['verified by evidence']} verified by evidence: "
        + ", ".join(f"{figures[s]} {s}" for s in (OK, MISSING, WRONG, UNASKED, SKIPPED))
    )
