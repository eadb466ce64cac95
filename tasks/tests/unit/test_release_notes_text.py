"""`release-notes`' text, made in-process from figures given here (the registry's side is
in engine/test_release_notes.py)."""

from __future__ import annotations

import dataclasses

from tasks.registry import sbom
from tasks.reports import release_notes
from tasks.reports.cost import Cost


def test_notes_too_long_for_a_github_release_cut_the_package_lists() -> None:
    many = frozenset(sbom.Package("deb", f"package-{n:05}", "1.0") for n in range(5000))
    found = Cost("sas", "r/sas:a", "r/sas:b", None, (), packages=sbom.diff(frozenset(), many))
    notes = release_notes.markdown([found], ["a syft scan"], "a" * 40, None)
    assert len(notes) <= release_notes.MAX_CHARACTERS
    assert "sas: package changes: the first 2000 of 5000 (nox -s release-notes lists all)" in (
        notes.replace("\\", "")
    )
    short = sbom.diff(frozenset(), frozenset(list(many)[:3]))
    whole = release_notes.markdown([dataclasses.replace(found, packages=short)], [], "a" * 40, None)
    assert "the first" not in whole and whole.count("| added | deb |") == 3
