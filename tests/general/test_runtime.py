"""The runtime contract of every served image: user, base URL, home staging copy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from conftest import mount, shared_scope, volume
from tracked_container import DEFAULT_PREFIX, TrackedContainer

USER_FILE = "user content, not the image's copy\n"
# As root in the image: list $HOME_TMP's files, put a user's own version of the first one
# into the new home volume, give the volume to jovyan. Test data travels as $1, unquoted.
PREPARE_HOME = """
set -e
cd "$HOME_TMP"
find . -type f | sort > /tmp/staged
first=$(head -n 1 /tmp/staged)
test -n "$first"
mkdir -p "/mnt/home/$(dirname "$first")"
printf %s "$1" > "/mnt/home/$first"
chown -R 1000:100 /mnt/home
cat /tmp/staged
"""


def test_user_is_jovyan_with_a_writable_home(lab) -> None:
    assert lab.exec("id", "-un").strip() == "jovyan"
    assert lab.exec("id", "-u").strip() == "1000"
    assert lab.exec("sh", "-c", 'echo "$HOME"').strip() == "/home/jovyan"
    lab.exec("sh", "-c", 'test -w "$HOME"')


def test_prefix_given_at_run_time_is_honoured(lab) -> None:
    assert lab.prefix != DEFAULT_PREFIX  # the shared server runs under another prefix
    assert "<title>JupyterLab</title>" in requests.get(f"{lab.url}/lab", timeout=30).text
    root = f"http://127.0.0.1:{lab.port}"
    for elsewhere in ("/lab", f"{DEFAULT_PREFIX}/lab"):
        response = requests.get(root + elsewhere, timeout=30)
        assert "<title>JupyterLab</title>" not in response.text, f"the lab answers at {elsewhere}"


@pytest.fixture(scope=shared_scope)
def new_home(engine, image) -> Iterator[tuple[TrackedContainer, list[str]]]:
    """A server started on a new home volume holding only a user's file at a staged path.

    Yields the server and the staged files, the first of which the user's file shadows.
    """
    with volume(engine) as home:
        helper = TrackedContainer(
            engine,
            image,
            serves=False,
            user="root",
            entrypoint=["sh", "-c", PREPARE_HOME, "prepare-home", USER_FILE],
            command=[],
            mounts=[mount(home, "/mnt/home")],
        )
        try:
            assert helper.container.wait(timeout=60)["StatusCode"] == 0, helper.logs()
            listing = helper.container.logs().decode()
        finally:
            helper.remove()
        staged = [line.removeprefix("./") for line in listing.splitlines() if line]
        server = TrackedContainer(engine, image, mounts=[mount(home, "/home/jovyan")])
        try:
            server.wait_ready()
            yield server, staged
        finally:
            server.remove()


def test_home_staging_copy_fills_a_new_home(new_home) -> None:
    server, staged = new_home
    assert staged, "the image stages no home files in $HOME_TMP"
    home = server.exec("sh", "-c", 'cd "$HOME" && find . -type f | sort')
    present = {line.removeprefix("./") for line in home.splitlines()}
    assert set(staged) <= present, f"not copied into the home: {set(staged) - present}"


def test_home_staging_copy_never_overwrites_a_users_file(new_home) -> None:
    server, staged = new_home
    assert server.exec("cat", f"/home/jovyan/{staged[0]}") == USER_FILE
