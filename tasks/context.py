"""One run of one command: the settings with its flags applied, and what is worked out from
them (the stage graph, the git checkout, the revision, the plan) once, when first asked.

git is opened here and nowhere else: every command, and everything a command calls, gets
the checkout, the revision and the plan from its Context.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from typing import TYPE_CHECKING

from tasks.console import note, warn
from tasks.settings import Settings

if TYPE_CHECKING:  # imported when first asked: `lint` and `docs` never read git
    from tasks.checkout.changes import Checkout
    from tasks.planning.plan import Plan
    from tasks.planning.tags import Revision
    from tasks.stack.bakefile import BakeGraph


@dataclasses.dataclass(frozen=True)
class Context:
    """One run of one command: settings with the flags applied, and what is worked out
    from them at most once, when first asked (functools.cached_property)."""

    settings: Settings  # --repo, --base-image ... already applied and validated
    args: argparse.Namespace  # the command's own parsed flags
    raw: tuple[str, ...] = ()  # what followed a second `--` (bake, test)

    @functools.cached_property
    def graph(self) -> BakeGraph:
        from tasks.stack import bakefile

        graph = bakefile.load(self.settings.bake_path)
        self.settings.check_stages(graph.stages)
        return graph

    @functools.cached_property
    def checkout(self) -> Checkout | None:
        """The git checkout holding the project; None outside git."""
        from tasks.checkout import changes

        return changes.open_checkout(self.settings.root)

    @functools.cached_property
    def tagging(self) -> Revision:
        """The branch and commit that name the images built here, the paths that make
        the tree dirty, and the inputs the commit does not pin (tags.Revision)."""
        from tasks.planning import tags, unpinned

        raw = self.raw if getattr(self.args, "command", None) == "bake" else ()
        found = unpinned.find(self.settings, self.graph, raw)
        return tags.revision(self.checkout, unpinned=found.what, variant=found.variant)

    @functools.cached_property
    def revision(self) -> str:
        """The revision label of images built here: HEAD's SHA, `<sha>-dirty` for a dirty
        tree, `<sha>-custom` or `-nosas` for inputs it does not pin (these name no
        commit), "" outside git."""
        return self.tagging.label or ""

    @functools.cached_property
    def plan(self) -> Plan:
        """The plan, made once; its notes and warnings are shown when it is made.

        It reads the plan flags the command declares (--base, --all, --extra-tag; the
        others are their defaults). Change detection's warnings are shown unless the
        command has a --changed flag that was left off (bake without --changed builds what
        it is asked, whatever changed); the bake file's own warnings always are."""
        from tasks.planning import plan

        flags = vars(self.args)
        graph = self.graph
        made = plan.make(
            self.settings,
            graph,
            self.checkout,
            base=flags.get("base"),
            everything=flags.get("all", False),
            extra_tags=tuple(flags.get("extra_tag") or ()),
            revision=self.tagging,
        )
        for message in made.notes:
            note(message)
        for message in made.warnings if flags.get("changed", True) else graph.warnings:
            warn(message)
        return made
