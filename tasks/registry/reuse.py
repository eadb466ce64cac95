"""Which image in the registry a stage can be taken from instead of being built.

Only an image built from the same inputs will do: the one at the merge base's SHA tag (a
commit whose files, for an unchanged stage, are ours), a changed stage's image at this
very commit's SHA tag (pushed by an earlier CI job of this run), or the image a branch
tag names, once its revision label shows a commit from which the stage has not changed.
Every image's revision label is checked before it is taken, whatever its tag (a SHA tag
may be a retag of an older commit's image): it must name a clean commit of this
repository from which the stage has not changed; a dirty build's `<sha>-dirty`, or no
label, is never taken.

With verify-reuse on (the default), an image is also taken only if its signature verifies
against the trusted identity (tasks/registry/signing.py), checked by the digest the registry serves,
and claims this stage, this repository and the commit of its label (tasks/registry/claims.py).
Off, every reuse says it was not checked. Either way an image is taken by digest: the one
whose signature and revision label were checked is the one reused and built on
(`REPO/STAGE@sha256:...`), whatever its tag serves by then.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Protocol

from tasks.checkout.changes import Checkout
from tasks.console import note, warn
from tasks.planning import tags
from tasks.planning.plan import Action, Plan, changed_since
from tasks.registry import signing, verify
from tasks.settings import Settings
from tasks.stack.bakefile import BakeGraph
from tasks.stack.references import ImageRef


class Lookups(Protocol):
    """What reuse asks the registry (tasks.docker.engine.Lookups answers it there)."""

    def digest(self, ref: str) -> str | None: ...  # what the tag serves; None: no such tag

    def revision(self, ref: str) -> str | None: ...  # its revision label, None without one


@dataclasses.dataclass(frozen=True)
class Source:
    ref: str
    why: str
    digest: str = ""  # once found: the digest checked (signature, revision label)
    commit: str = ""  # the one commit whose build will do; "": any its label passes

    @property
    def pinned(self) -> str:
        """REPO/STAGE@sha256:...: the image checked, whatever its tag serves by now."""
        return str(ImageRef.parse(self.ref).with_digest(self.digest))


class Reuse:
    def __init__(
        self,
        settings: Settings,
        graph: BakeGraph,
        plan: Plan,
        lookups: Lookups,
        checkout: Checkout | None,
    ) -> None:
        self.settings = settings
        self.graph = graph
        self.plan = plan
        self.lookups = lookups
        # The checkout the plan was made from; None outside a git repository, where no
        # revision label can be checked.
        self.checkout = checkout
        self.identity = signing.identity(settings) if settings.verify_reuse else None
        if self.identity is not None:
            self.identity.verify_flags()  # nothing to trust: one message, before any look-up
        self.refused: dict[str, list[str]] = {}  # stage -> why its candidates were not taken
        # find() runs in worker threads (retag): one git question at a time, so each
        # revision's changes are worked out once (the cache below).
        self._git = threading.Lock()

    def sources(self, stage: str) -> list[Source]:
        """Where an image of `stage` built from our inputs may be, best first."""
        plan = self.plan
        candidates = []
        if plan.stage(stage).action == Action.BUILD:
            # Changed: only this very commit's build will do. Uncommitted edits, or inputs
            # the commit does not pin (another upstream, ...), make it another image.
            if plan.sha and plan.committed and not plan.variant:
                why = "this commit's SHA tag: built from these same files"
                candidates.append(Source(self._ref(stage, plan.sha), why, commit=plan.sha))
            return candidates
        if plan.merge_base:
            candidates.append(Source(self._ref(stage, plan.merge_base), "the merge base's SHA tag"))
        # Branch tags move, and a SHA tag may be a retag of an older commit's image: each
        # image is checked by its revision label (find()).
        branches = {}
        if plan.base_branch:
            branches[tags.sanitize(plan.base_branch)] = "the base branch's tag"
        if plan.sha:  # e.g. a push whose `before` was never built: the branch's last image
            branches.setdefault(plan.branch, "this branch's tag")
        for branch, what in branches.items():
            why = f"{what} ({branch}), built from a commit with the same inputs"
            candidates.append(Source(self._ref(stage, branch), why))
        return candidates

    def find(self, stage: str) -> Source | None:
        """The first source the registry has whose image was built from a clean commit
        where the stage's inputs were ours."""
        for source in self.sources(stage):
            served = self.lookups.digest(source.ref)
            if served is None:
                continue
            if self.identity is None:
                pinned = dataclasses.replace(source, digest=served)
                if self._same(stage, pinned):
                    warn(f"{source.ref}: reused without checking its signature (verify-reuse off)")
                    return pinned
                continue
            found = verify.signed(source.ref, self.identity, self.settings, stage, source.commit)
            if isinstance(found, str):
                note(f"{source.ref}: {found}: not reused")
                self.refused.setdefault(stage, []).append(f"{source.ref}: {found}")
                continue
            pinned = dataclasses.replace(source, digest=found.digest)
            if self._same(stage, pinned):
                return pinned
        return None

    def parents(self, targets: list[str]) -> tuple[list[str], dict[str, str]]:
        """Every ancestor of the targets either comes from the registry or is built too,
        and then its own parents are looked for in turn. Returns (to build, reused), each
        reused image by the digest that was checked (REPO/STAGE@sha256:...)."""
        building = set(targets)
        reused: dict[str, str] = {}
        pending = [p for name in targets for p in self.graph.stages[name].parents]
        while pending:
            parent = pending.pop()
            if parent in building or parent in reused:
                continue
            found = self.find(parent)
            changed = self.plan.stage(parent).action == Action.BUILD
            if found:
                reused[parent] = found.pinned
                state = "built already" if changed else "unchanged"
                note(f"{parent} is {state}: reusing {found.ref} ({found.why}): {found.pinned}")
                continue
            if parent in self.refused:
                why = "; ".join(self.refused[parent])
                note(f"{parent}: no image in the registry is verified ({why}): building it")
            elif changed and not self.sources(parent):
                why = "uncommitted edits" if not self.plan.committed else "unpinned inputs"
                note(f"{parent} changed, and {why} make it another image: building it")
            elif changed:
                note(f"{parent} changed and the registry has no image of this commit: building it")
            else:
                note(f"{parent} is unchanged but no image of it is in the registry: building it")
            building.add(parent)
            pending.extend(self.graph.stages[parent].parents)
        return [name for name in self.graph.stages if name in building], reused

    def _ref(self, stage: str, tag: str) -> str:
        return tags.image_refs(self.settings.registry, stage, [tag])[0]

    def _same(self, stage: str, source: Source) -> bool:
        revision = self.lookups.revision(source.pinned)  # the image found, not its tag
        if revision and revision.endswith(tags.DIRTY):
            note(f"{source.ref} was built from uncommitted files ({revision}): not reused")
            return False
        if revision and revision.endswith((tags.CUSTOM, tags.NO_SAS)):
            note(
                f"{source.ref} was built from inputs its commit does not pin ({revision}): "
                "not reused"
            )
            return False
        with self._git:
            return self._built_from_our_inputs(stage, source, revision)

    def _built_from_our_inputs(self, stage: str, source: Source, revision: str | None) -> bool:
        checkout = self.checkout
        known = revision and tags.FULL_SHA.fullmatch(revision) and checkout is not None
        if not (known and revision and checkout and checkout.resolves(revision)):
            shown = f" ({revision})" if revision else ""
            note(
                f"{source.ref}: no revision label naming a commit of this repository{shown}, "
                "so not reused"
            )
            return False
        if stage in self._changed_since(revision):
            note(f"{source.ref} was built from {revision[:8]}; {stage} changed since: not reused")
            return False
        return True

    @functools.cache  # noqa: B019 - one Reuse per command: the cache dies with it
    def _changed_since(self, revision: str) -> set[str]:
        assert self.checkout is not None  # asked only for a revision the checkout resolves
        return changed_since(self.settings, self.graph, self.checkout, revision)
