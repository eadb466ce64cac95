"""The image reference type on its own: Docker's parsing rules, familiar names, the host to
log in to, and that every reference it accepts reads back as written. No engine needed."""

from __future__ import annotations

import pytest

from tasks.console import USAGE, ZoneError
from tasks.stack.references import ImageRef, is_image

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "familiar", "host"),
    [
        ("docker.io/library/ubuntu:22.04", "ubuntu:22.04", "docker.io"),
        ("index.docker.io/library/ubuntu", "ubuntu", "docker.io"),
        ("ubuntu", "ubuntu", "docker.io"),
        ("library/ubuntu", "ubuntu", "docker.io"),
        ("docker.io/jupyter/scipy-notebook:x", "jupyter/scipy-notebook:x", "docker.io"),
        # Only one component after library/ is an official image.
        ("docker.io/library/a/b", "library/a/b", "docker.io"),
        # Docker Hub's API host is no alias in names: docker shows it in full.
        ("registry-1.docker.io/library/ubuntu", "registry-1.docker.io/library/ubuntu", None),
        (f"localhost:5000/team/base:v2@{DIGEST}", f"localhost:5000/team/base:v2@{DIGEST}", None),
        ("quay.io/jupyter/base-notebook", "quay.io/jupyter/base-notebook", "quay.io"),
    ],
)
def test_familiar_name_and_login_host(text: str, familiar: str, host: str | None) -> None:
    ref = ImageRef.parse(text)
    assert ref.familiar == familiar
    assert ref.host == (host or ref.registry)


def test_names_compare_as_docker_shows_them() -> None:
    """The engine lists docker.io/org/x as org/x: both are one repository."""
    assert ImageRef.parse("docker.io/org/x:a").familiar_name == ImageRef.parse("org/x").name
    assert ImageRef.parse("docker.io/org/x").familiar_name != ImageRef.parse("org/y").name
    assert ImageRef.parse("localhost:5000/x:1").name == "localhost:5000/x"


def test_with_tag_and_with_digest_keep_the_repository() -> None:
    source = ImageRef.parse("localhost:5000/team/base:master")
    assert str(source.with_tag("v2")) == "localhost:5000/team/base:v2"
    assert str(source.with_digest(DIGEST)) == f"localhost:5000/team/base@{DIGEST}"
    assert str(ImageRef.parse(f"a@{DIGEST}").with_tag("t")) == "a:t"  # the tag alone
    with pytest.raises(ZoneError, match="its tag '-bad' is not valid"):
        source.with_tag("-bad")
    with pytest.raises(ZoneError, match="its digest 'sha256:abc' is not ALGORITHM:HEX"):
        source.with_digest("sha256:abc")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("localhost:5000/Team/base", "its repository path 'Team/base' must be lowercase"),
        ("ubuntu/Base:1", "its repository path 'ubuntu/Base' must be lowercase"),
        ("", "it names no repository"),
        ("localhost:5000/", "it names no repository"),
        ("no such:image", "its repository path 'no such' is not lowercase components"),
        ("a//b", "its repository path 'a//b' is not lowercase components"),
        ("ubuntu:", "its tag '' is not valid"),
        ("ubuntu:.hidden", "its tag '.hidden' is not valid (up to 128 of"),
        ("ubuntu@sha256:" + "0" * 63, "is not ALGORITHM:HEX"),
        ("ubuntu@sha256:" + "A" * 64, "is not ALGORITHM:HEX"),  # Docker wants lowercase
        ("ubuntu@md5:" + "0" * 32, "is not ALGORITHM:HEX"),
        (f"ubuntu@{DIGEST}@{DIGEST}", "is not ALGORITHM:HEX"),
        ("my_host:5000/base", "its registry 'my_host:5000' is not HOST[:PORT]"),
        ("host:port/base", "its registry 'host:port' is not HOST[:PORT]"),
        ("a/" + "b" * 254, "its name is longer than 255 characters"),
    ],
)
def test_invalid_references_are_one_clear_error(text: str, why: str) -> None:
    with pytest.raises(ZoneError) as raised:
        ImageRef.parse(text)
    assert raised.value.message.startswith(f"{text!r} is not an image reference: ")
    assert why in raised.value.message
    assert "[HOST[:PORT]/]PATH[:TAG][@DIGEST]" in raised.value.hint
    assert raised.value.exit_code == USAGE
    assert not is_image(text)


@pytest.mark.parametrize(
    "text",
    [
        "k8scc01covidacr.azurecr.io/jupyterlab-cpu:0a1b2c3d",
        "quay.io/jupyter/datascience-notebook:2024-05-27@" + DIGEST,
        "a__b/c--d/e.f:T_1.2-x",
        "h:1/p",
        "a/" + "b" * 253,  # 255 characters: the longest name Docker takes
        "x:" + "t" * 128,
    ],
)
def test_round_trip(text: str) -> None:
    ref = ImageRef.parse(text)
    assert str(ref) == text
    assert ImageRef.parse(str(ref)) == ref
    assert ImageRef.parse(ref.familiar).familiar == ref.familiar
    assert is_image(text)
