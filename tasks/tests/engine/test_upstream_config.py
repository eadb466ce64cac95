"""The lint reads what a root stage's upstream image sets (Config.Shell, Config.User,
Config.Env) from the local engine or from a real registry, and tells hadolint: a child
that pipes in RUN under the upstream's pipefail SHELL gets no DL4006; under an upstream
without it, it does; an upstream that cannot be read is said once, and hadolint's
default stands."""

from __future__ import annotations

import functools
import io
import json
import uuid
from pathlib import Path

import docker
import pytest

from tasks.lint import stacked
from tasks.lint.stages import StageImages
from tasks.registry import image_config
from tasks.settings import load
from tasks.tests.support import clean_env, git, remove_images, run_tasks, write

PIPEFAIL = '["/bin/sh", "-o", "pipefail", "-c"]'
UNREACHABLE = "127.0.0.1:1/nowhere/upstream:1"  # a port nothing listens on: refused at once
LABEL = "zone-kubeflow-containers.test"  # what this module made, for people to recognise


def _image(engine: docker.DockerClient, upstream: str, tag: str, lines: str) -> str:
    dockerfile = f"FROM {upstream}\n{lines}LABEL {LABEL}=upstream-config\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return tag


@pytest.fixture(scope="module")
def upstreams(engine: docker.DockerClient, upstream: str, registry: str):  # type: ignore[no-untyped-def]
    """Two upstream images in the registry only (their local tags removed): one with a
    pipefail SHELL, a non-root USER and the uid in its ENV, one that sets neither."""
    prefix = f"{registry}/upstream{uuid.uuid4().hex[:6]}"
    piped = _image(
        engine,
        upstream,
        f"{prefix}/pipefail:1",
        f"SHELL {PIPEFAIL}\nENV NB_USER=jovyan NB_UID=1000\nUSER 1000\n",
    )
    plain = _image(engine, upstream, f"{prefix}/plain:1", "")
    for tag in (piped, plain):
        repository, _, name = tag.rpartition(":")
        engine.images.push(repository, name)
        engine.images.remove(tag)
    yield piped, plain
    remove_images(engine, prefix)


BAKE = """\
target "base" {
  context = "./images/base"
  args = { BASE_IMAGE = "%s" }
}
target "mid" {
  context = "./images/mid"
  args = { BASE_IMAGE = "base" }
}
"""


def _repo(root: Path, upstream: str) -> Path:
    """A root on `upstream` and a child of it, both piping in a RUN with no SHELL."""
    write(root, "docker-bake.hcl", BAKE % upstream)
    write(
        root, "images/base/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo a | wc -c\n"
    )
    write(root, "images/mid/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo b | wc -c\n")
    git(root, "init", "-q", "-b", "master")
    return root


def _rules(root: Path) -> tuple[dict[str, list[str]], list[str]]:
    """The rules switched off per Dockerfile, and what was said about the upstreams."""
    read = functools.partial(image_config.read, settings=load(root))
    images = StageImages("docker-bake.hcl", root, read)
    off = {
        name: [o.rule for o in stacked.rules_off(root / f"images/{name}/Dockerfile", images)]
        for name in ("base", "mid")
    }
    return off, images.upstreams


def test_a_pipefail_shell_upstream_switches_dl4006_off_in_root_and_child(
    upstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(image_config.CACHE_ENV, str(tmp_path / "cache"))
    piped, _ = upstreams
    off, said = _rules(_repo(tmp_path / "repo", piped))
    assert off == {"base": ["DL4006"], "mid": ["DL4006"]}
    assert said == [
        f"{piped} (the upstream of base, read from its registry): SHELL "
        '["/bin/sh", "-o", "pipefail", "-c"], USER 1000'
    ]


def test_an_upstream_without_that_shell_leaves_dl4006_on(
    upstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(image_config.CACHE_ENV, str(tmp_path / "cache"))
    _, plain = upstreams
    off, said = _rules(_repo(tmp_path / "repo", plain))
    assert off == {"base": [], "mid": []}
    assert said == [
        f"{plain} (the upstream of base, read from its registry): SHELL unset (/bin/sh -c), "
        "USER unset (root)"
    ]


def test_the_upstream_env_resolves_a_numeric_user(
    upstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`USER ${NB_UID}` with NB_UID from the upstream's ENV is a number: DL3066 is off."""
    monkeypatch.setenv(image_config.CACHE_ENV, str(tmp_path / "cache"))
    piped, _ = upstreams
    root = _repo(tmp_path / "repo", piped)
    write(root, "images/mid/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nUSER ${NB_UID}\n")
    off, _ = _rules(root)
    assert off["mid"] == ["DL3066"]


def test_a_config_is_cached_by_digest(
    upstreams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Read once from the registry; the same digest under an unreachable registry is then
    answered from the cache, with no request."""
    monkeypatch.setenv(image_config.CACHE_ENV, str(tmp_path / "cache"))
    piped, _ = upstreams
    settings = load(tmp_path)
    first = image_config.read(piped, settings)
    assert isinstance(first, image_config.ImageConfig)
    cached = sorted(path.stem for path in (tmp_path / "cache").glob("sha256:*.json"))
    assert len(cached) == 1
    again = image_config.read(f"127.0.0.1:1/nowhere/upstream@{cached[0]}", settings)
    assert isinstance(again, image_config.ImageConfig)
    assert (
        (again.shell, again.user) == (first.shell, "1000") == (tuple(json.loads(PIPEFAIL)), "1000")
    )
    assert dict(again.env)["NB_UID"] == "1000"


def test_an_image_in_the_local_engine_is_read_there(
    engine: docker.DockerClient, upstream: str, registry: str, tmp_path: Path
) -> None:
    tag = _image(engine, upstream, f"{registry}/local{uuid.uuid4().hex[:6]}/only:1", "USER 42\n")
    try:
        found = image_config.read(tag, load(tmp_path))  # never pushed: the engine has it
        assert isinstance(found, image_config.ImageConfig)
        assert (found.user, found.source) == ("42", "the local engine")
    finally:
        engine.images.remove(tag)


def test_lint_with_real_hadolint_on_readable_and_unreadable_upstreams(
    upstreams, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    piped, _ = upstreams
    env = clean_env(**{image_config.CACHE_ENV: str(tmp_path / "cache")})
    root = _repo(tmp_path / "read", piped)
    # A finding of another rule, so that the hook fails and its notes are shown.
    write(root, "images/other/Dockerfile", "FROM busybox:1.36\nRUN cd /tmp && true\n")
    result = run_tasks(root, "lint", "--only", "hadolint", "images", env=env)
    assert "images/other/Dockerfile:2 DL3003" in result.stderr
    assert "DL4006 warning" not in result.stderr
    assert f"{piped} (the upstream of base, read from its registry)" in result.stderr
    assert "images/mid/Dockerfile: hadolint DL4006 is off here" in result.stderr

    root = _repo(tmp_path / "unread", UNREACHABLE)
    other = BAKE.split('target "mid"')[0].replace('"base"', '"other"') % UNREACHABLE
    other = other.replace("./images/base", "./images/other")
    write(root, "docker-bake.hcl", (root / "docker-bake.hcl").read_text() + other)
    write(root, "images/other/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n")
    result = run_tasks(root, "lint", "--only", "hadolint", "images", env=env)
    assert result.returncode != 0
    assert result.stderr.count("images/base/Dockerfile:3 DL4006") == 1
    assert result.stderr.count("images/mid/Dockerfile:3 DL4006") == 1
    # Two roots on the unreadable upstream: said once, hadolint's default kept.
    assert result.stderr.count(f"the SHELL of {UNREACHABLE}") == 1
    assert "hadolint's default (/bin/sh -c, no pipefail) stands for it" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_blob_is_what_its_digest_names_or_no_answer(upstreams) -> None:  # type: ignore[no-untyped-def]
    from tasks.pinning import fetch
    from tasks.registry import config_blob
    from tasks.stack.references import ImageRef

    ref = ImageRef.parse(upstreams[0])
    missing = "sha256:" + "0" * 64
    with pytest.raises(fetch.Unanswered, match="answered 404"):
        config_blob.blob(ref, missing)
