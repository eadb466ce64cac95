"""The bake file as our parser reads it, checked against what buildx itself prints."""

from __future__ import annotations

import json
import subprocess

from tasks.stack import bakefile
from tasks.tests.support import PROJECT


def test_parsed_graph_matches_buildx_print(engine) -> None:
    """Our reading of the bake file and bake's own never drift apart."""
    printed = subprocess.run(
        [
            "docker",
            "buildx",
            "bake",
            "--file",
            "docker-bake.hcl",
            "--print",
            "base",
            "mid",
            "sas-kernel",
            "jupyterlab-cpu",
            "sas",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": __import__("os").environ["PATH"], "HOME": __import__("os").environ["HOME"]},
    )
    targets = json.loads(printed.stdout)["target"]
    graph = bakefile.load(PROJECT / "docker-bake.hcl", environ={})
    assert set(targets) == set(graph.stages)
    for name, stage in graph.stages.items():
        theirs = targets[name]
        assert theirs["context"] == stage.context
        assert f"{theirs['context']}/{theirs['dockerfile']}" == stage.dockerfile
        assert theirs["args"] == stage.definition["args"]
        assert theirs.get("contexts", {}) == stage.definition.get("contexts", {})
        assert tuple(theirs["tags"]) == stage.tags
