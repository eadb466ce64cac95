"""What a Dockerfile's parent stages put into the image it starts from.

A child stage's RUN may call a helper script that a parent installed (the stacks'
clean-layer.sh, copied to /usr/bin by the base stage), rely on a parent's ENV, or change
files a parent's layers made. The bake file says which stages a Dockerfile builds and
which stages they are built on; each parent's Dockerfile is read with its own build
context, its parents first. A Dockerfile no stage builds starts from nothing known.
"""

from __future__ import annotations

from pathlib import Path

from tasks import bakefile
from tasks.console import ZoneError
from tasks.dockerfile import parse
from tasks.lint import layers
from tasks.lint.files import read_dockerfile


class StageImages:
    """The images a Dockerfile's stages start from, per bake file found above it."""

    def __init__(self, bake_name: str, root: Path):
        self.bake_name = bake_name
        self.root = root  # findings show paths relative to it
        self.problems: list[str] = []  # bake files that could not be read, said once each
        self._graphs: dict[Path, bakefile.BakeGraph | None] = {}
        self._images: dict[tuple[Path, str], layers.Image] = {}

    def parent_of(self, dockerfile: Path) -> tuple[layers.Image | None, frozenset[str]]:
        """What the stages built from `dockerfile` start from, and the names (stage names,
        tags, `contexts` keys) by which a FROM reaches their parents; (None, {}) for a
        Dockerfile that no stage of the nearest bake file builds."""
        bake = self.bake_file_of(dockerfile)
        graph, names_built = self.built_from(dockerfile)
        if graph is None or bake is None or not names_built:
            return None, frozenset()
        stages = [graph.stages[name] for name in names_built]
        image = layers.Image()
        names: set[str] = set()
        for stage in stages:
            for parent in stage.parents:
                image = image.merge(self._image(bake, graph, parent))
                names |= {parent, *graph.stages[parent].tags}
            contexts = stage.definition.get("contexts", {})
            names |= {key for key, value in contexts.items() if value.startswith("target:")}
        return image, frozenset(names)

    def built_from(self, dockerfile: Path) -> tuple[bakefile.BakeGraph | None, list[str]]:
        """The graph of the nearest bake file, and the stages built from `dockerfile`."""
        bake = self.bake_file_of(dockerfile)
        graph = self._graph(bake) if bake else None
        if graph is None or bake is None:
            return None, []
        here = dockerfile.resolve()
        return graph, [
            s.name for s in graph.stages.values() if (bake.parent / s.dockerfile).resolve() == here
        ]

    def bake_file_of(self, dockerfile: Path) -> Path | None:
        """The nearest bake file in the Dockerfile's folder or above it."""
        for folder in dockerfile.resolve().parents:
            if (folder / self.bake_name).is_file():
                return folder / self.bake_name
        return None

    def _graph(self, bake: Path) -> bakefile.BakeGraph | None:
        if bake not in self._graphs:
            try:
                self._graphs[bake] = bakefile.load(bake)
            except ZoneError as error:
                self._graphs[bake] = None
                self.problems.append(
                    f"{self._shown(bake)}: {error.message}; helpers and files of parent "
                    "stages are not known to the layer check"
                )
        return self._graphs[bake]

    def _image(self, bake: Path, graph: bakefile.BakeGraph, name: str) -> layers.Image:
        """What stage `name`'s image holds: its parents' images, then its own layers."""
        if (bake, name) not in self._images:
            stage = graph.stages[name]
            start = layers.Image()
            names: set[str] = set()
            for parent in stage.parents:
                start = start.merge(self._image(bake, graph, parent))
                names |= {parent, *graph.stages[parent].tags}
            path = bake.parent / stage.dockerfile
            try:
                instructions = parse(read_dockerfile(path))
            except (OSError, UnicodeDecodeError):
                instructions = []  # its own layer check says it cannot be read
            context = bake.parent / stage.context
            _, image = layers.walk(
                instructions, context, start, self._shown(path), frozenset(names)
            )
            self._images[(bake, name)] = image
        return self._images[(bake, name)]

    def _shown(self, path: Path) -> str:
        root = self.root.resolve()
        return path.relative_to(root).as_posix() if root in path.parents else path.as_posix()
