"""`nox -s docs`: docs/stages.md comes from the bake file, and lint knows when it is stale."""

from __future__ import annotations

from pathlib import Path

from tasks.reports import docs
from tasks.stack import bakefile
from tasks.tests.support import PROJECT, write

TWO_ROOTS = """
variable "UP" {
  default = "debian:12"
}
target "root" {
  context = "images/root"
  args    = { BASE_IMAGE = "${UP}" }
  tags    = ["x/root:dev"]
}
target "other-root" {
  context = "images/other_root"
  args    = { BASE_IMAGE = "busybox:1.36" }
}
target "leaf" {
  context  = "images/leaf"
  contexts = { root = "target:root", other = "target:other-root" }
  args     = { BASE_IMAGE = "root" }
}
"""


def test_graph_links_upstream_to_root_and_parents_to_children() -> None:
    text = docs.render(bakefile.parse(TWO_ROOTS, "docker-bake.hcl", environ={}))
    assert '  upstream1["(upstream) debian"]' in text  # the tag is pinned in the bake file only
    assert '  upstream2["(upstream) busybox"]' in text
    assert '  s_other_root["other-root<br/>images/other_root"]' in text
    edges = [line.strip() for line in text.splitlines() if "-->" in line]
    assert edges == [
        "upstream1 --> s_root",
        "upstream2 --> s_other_root",
        "s_root --> s_leaf",
        "s_other_root --> s_leaf",
    ]


def test_table_has_a_row_per_stage_with_folder_parent_and_tags() -> None:
    text = docs.render(bakefile.parse(TWO_ROOTS, "docker-bake.hcl", environ={}))
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `root` | `images/root` | (upstream) | `REGISTRY/root:BRANCH`")
    assert rows[2].startswith("| `leaf` | `images/leaf` | `root`, `other-root` |")
    assert len(rows) == 3


def test_the_checked_in_stages_doc_is_current() -> None:
    assert docs.stale(PROJECT, PROJECT / "docker-bake.hcl") is None


def test_generated_doc_ignores_the_environment(tmp_path: Path, monkeypatch) -> None:
    bake = write(tmp_path, "docker-bake.hcl", TWO_ROOTS)
    before = docs.generated(bake)
    monkeypatch.setenv("UP", "example.invalid/other:1")
    assert docs.generated(bake) == before


def test_bumping_the_upstream_pin_keeps_the_doc_current(tmp_path: Path) -> None:
    bake = write(tmp_path, "docker-bake.hcl", TWO_ROOTS)
    before = docs.generated(bake)
    for pinned in ("debian:13", "debian@sha256:" + "a" * 64, "localhost:5000/debian:12"):
        bake.write_text(TWO_ROOTS.replace("debian:12", pinned))
        expected = "localhost:5000/debian" if pinned.startswith("localhost") else "debian"
        assert f'["(upstream) {expected}"]' in docs.generated(bake)
    bake.write_text(TWO_ROOTS.replace("debian:12", "debian:13"))
    assert docs.generated(bake) == before
