"""Image references split as the engine itself splits them."""

from __future__ import annotations

import pytest

from tasks.stack.references import ImageRef
from tasks.tests.unit.test_references import DIGEST


@pytest.mark.parametrize(
    ("text", "registry", "path", "tag", "digest"),
    [
        ("localhost:5000/team/base:v2", "localhost:5000", "team/base", "v2", None),
        (f"127.0.0.1:5000/a@{DIGEST}", "127.0.0.1:5000", "a", None, DIGEST),
        (f"name:tag@{DIGEST}", "", "name", "tag", DIGEST),
        ("ubuntu", "", "ubuntu", None, None),
        ("docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
        (
            "registry-1.docker.io/library/ubuntu",
            "registry-1.docker.io",
            "library/ubuntu",
            None,
            None,
        ),
        ("localhost/base", "localhost", "base", None, None),
        ("zone-fixture/sas:master", "", "zone-fixture/sas", "master", None),
        ("[::1]:5000/team/base:v2", "[::1]:5000", "team/base", "v2", None),
        # No '/': the ':' starts a tag, whatever it looks like (Docker's rule too).
        ("localhost:5000", "", "localhost", "5000", None),
        # An upper-case first component can only be a host: paths are lowercase.
        ("Registry/base", "Registry", "base", None, None),
    ],
)
def test_parse_splits_as_docker_does(
    text: str, registry: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)
    assert ref.format() == str(ref) == text  # read back exactly as written
