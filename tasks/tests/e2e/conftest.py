"""The fixtures of the image-test files (test_image_tests.py, test_broken_images.py)."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from tasks.tests import image_runs


@pytest.fixture(scope="module")
def bystander(engine: docker.DockerClient) -> Iterator[list]:
    """Containers not a run's own, alive for the module: every run must leave them so."""
    yield from image_runs.bystanders(engine)
