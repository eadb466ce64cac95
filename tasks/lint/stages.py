"""What a Dockerfile's parent stages put into the image it starts from.

A child stage's RUN may call a helper script that a parent installed (the stacks'
clean-layer.sh, copied to /usr/bin by the base stage), rely on a parent's ENV, or change
files a parent's layers made. The bake file says which stages a Dockerfile builds and
which stages they are built on; each parent's Dockerfile is read with its own build
context, its parents first. A Dockerfile no stage builds starts from nothing known.

A root stage starts from its upstream image (the bake file's BASE_IMAGE). Given a way to
read image configs (hadolint's check does; tasks.image_config), the upstream's SHELL and
ENV are what the root starts from, as a parent stage's are for its children; an upstream
that cannot be read starts from nothing known, and that is said once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tasks import bakefile, upstreams
from tasks.console import ZoneError
from tasks.dockerfile import parse
from tasks.image_config import ImageConfig, Unread
from tasks.lint import layers
from tasks.lint.files import read_dockerfile

ReadConfig = Callable[[str], ImageConfig | Unread]


class StageImages:
    """The images a Dockerfile's stages start from, per bake file found above it."""

    def __init__(self, bake_name: str, root: Path, read_config: ReadConfig | None = None):
        """read_config: how to read an upstream image's config; None: upstreams are
        not read (they start from nothing known)."""
        self.bake_name = bake_name
        self.root = root  # findings show paths relative to it
        self.problems: list[str] = []  # bake files that could not be read, said once each
        self.upstreams: list[str] = []  # what was read of each upstream, said once each
        self._read_config = read_config
        self._graphs: dict[Path, bakefile.BakeGraph | None] = {}
        self._images: dict[tuple[Path, str], layers.Image] = {}
        self._upstream_images: dict[str, layers.Image] = {}

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
            if not stage.parents:
                image = image.merge(self._upstream(graph, stage.name))
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
            start = layers.Image() if stage.parents else self._upstream(graph, name)
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

    def _upstream(self, graph: bakefile.BakeGraph, root: str) -> layers.Image:
        """What root stage `root`'s upstream image sets: its SHELL and ENV, as a parent
        stage's image would give them."""
        ref = upstreams.upstream_of(graph, root)
        if self._read_config is None or not ref:
            return layers.Image()
        if ref not in self._upstream_images:
            found = self._read_config(ref)
            if isinstance(found, Unread):
                self.upstreams.append(
                    f"the SHELL of {ref} (the upstream of {root}) could not be read: "
                    f"{found.reason}; hadolint's default (/bin/sh -c, no pipefail) stands for it"
                )
                self._upstream_images[ref] = layers.Image()
            else:
                shell = json.dumps(list(found.shell)) if found.shell else ""
                self.upstreams.append(
                    f"{ref} (the upstream of {root}, read from {found.source}): "
                    f"SHELL {shell or 'unset (/bin/sh -c)'}, USER {found.user or 'unset (root)'}"
                )
                self._upstream_images[ref] = layers.Image(env=dict(found.env), shell=shell)
        return self._upstream_images[ref].copy()

    def _shown(self, path: Path) -> str:
        root = self.root.resolve()
        return path.relative_to(root).as_posix() if root in path.parents else path.as_posix()
