"""A build that fails in the engine: one clear failure, no traceback."""

from __future__ import annotations

import uuid
from pathlib import Path

from tasks.tests.support import clean_env, remove_images, run_tasks


def test_failed_build_is_a_failure_not_a_traceback(engine, stack: Path, upstream: str) -> None:
    (stack / "images/mid/Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN exit 3\n")
    env = clean_env(UPSTREAM_IMAGE=upstream)
    prefix = f"localhost:1/failing{uuid.uuid4().hex[:6]}"
    try:
        result = run_tasks(stack, "bake", "mid", "--repo", prefix, env=env)
    finally:
        remove_images(engine, prefix)  # base builds before mid fails
    assert result.returncode == 1
    assert "docker buildx bake failed" in result.stderr
    assert "Traceback" not in result.stderr
