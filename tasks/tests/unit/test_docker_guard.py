"""The unit tier's guard (conftest.py here): Docker is out of reach, and reaching for it
fails the test even when the test caught the error."""

from __future__ import annotations

import subprocess

import docker
import docker.errors
import pytest

from tasks.tests.unit.conftest import DockerGuard, ReachedDocker


def test_the_sdk_and_the_cli_are_refused_and_recorded(docker_guard: DockerGuard) -> None:
    with pytest.raises(docker.errors.DockerException):
        docker.from_env().ping()
    with pytest.raises(ReachedDocker):
        subprocess.run(["docker", "version"], capture_output=True)
    assert len(docker_guard.reached) >= 2, docker_guard.reached
    assert any("docker.sock" in what for what in docker_guard.reached)
    assert any("docker" in what and "version" not in what for what in docker_guard.reached)
    docker_guard.reached.clear()  # reached on purpose: this test checks the guard


def test_other_commands_and_sockets_still_run(docker_guard: DockerGuard) -> None:
    assert subprocess.run(["git", "--version"], capture_output=True).returncode == 0
    assert docker_guard.reached == []
