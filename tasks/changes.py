"""What changed since the merge base, according to git (GitPython)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import git

from tasks.console import ZoneError

# Tried in order when neither --base nor GitHub Actions names the base branch.
FALLBACK_BASES = ("origin/master", "origin/main", "master", "main")


@dataclasses.dataclass(frozen=True)
class Checkout:
    """The repository the project lives in, seen from the project's root folder."""

    repo: git.Repo
    prefix: str  # the project root relative to the repository's top, "" when they match

    @property
    def sha(self) -> str:
        return self.repo.head.commit.hexsha

    @property
    def branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD."""
        return None if self.repo.head.is_detached else self.repo.active_branch.name

    def resolves(self, ref: str) -> bool:
        try:
            self.repo.commit(ref)
        except (git.BadName, git.GitCommandError, ValueError):
            return False
        return True

    def merge_base(self, ref: str) -> str | None:
        try:
            bases = self.repo.merge_base(ref, "HEAD")
        except git.GitCommandError:
            return None
        return bases[0].hexsha if bases else None

    def branch_of(self, ref: str) -> str | None:
        """The branch a ref names (origin/master -> master), None for a SHA or a tag."""
        try:
            full = self.repo.git.rev_parse("--symbolic-full-name", ref)
        except git.GitCommandError:
            return None
        if full.startswith("refs/heads/"):
            return full.removeprefix("refs/heads/")
        if full.startswith("refs/remotes/"):
            return full.removeprefix("refs/remotes/").split("/", 1)[-1]
        return None

    def changed_paths(self, since: str) -> list[str]:
        """Committed, staged, unstaged and untracked-not-ignored paths, root-relative."""
        git_cmd = self.repo.git
        try:
            # --no-renames: a moved file changes the folder it left and the one it joined.
            diffed = git_cmd.diff("--name-only", "--no-renames", "-z", since, "--").split("\0")
            untracked = git_cmd.ls_files("--others", "--exclude-standard", "-z").split("\0")
        except git.GitCommandError as exc:
            raise ZoneError(f"git failed: {exc.stderr.strip() or exc}") from None
        # git quotes nothing with -z, and paths come relative to the repository's top.
        paths = {p for p in diffed + untracked if p}
        return sorted(self._relative(p) for p in paths if p.startswith(self.prefix))

    def file_at(self, sha: str, path: str) -> str | None:
        try:
            blob = self.repo.commit(sha).tree / (self.prefix + path)
        except KeyError:
            return None
        return blob.data_stream.read().decode()

    def _relative(self, path: str) -> str:
        return path[len(self.prefix) :]


def open_checkout(root: Path) -> Checkout | None:
    """The git checkout holding `root`; None when there is none. A repository git refuses
    to read (another user's, "dubious ownership") or one with no commit yet is an error
    that says what to do: neither may pass for "not a git repository"."""
    try:
        # git itself says where the repository is, or why it will not read it.
        top = git.Git(str(root)).rev_parse("--show-toplevel")
        repo = git.Repo(top)
    except git.GitCommandNotFound:
        raise ZoneError("git is not installed", hint="install git, then run this again") from None
    except git.GitCommandError as exc:
        detail = str(exc.stderr or exc).strip().removeprefix("stderr:").strip(" '\n")
        if "not a git repository" in detail:
            return None
        if "dubious ownership" in detail:
            # git's message names the folder to trust; the top folder otherwise.
            named = re.search(r"safe\.directory (\S+)", detail)
            folder = named.group(1) if named else str(root.resolve())
            raise ZoneError(
                f"git refuses to read the repository at {folder}: it belongs to another user "
                '(git\'s "detected dubious ownership"), so nothing here can see what changed',
                hint=f"if you trust it: git config --global --add safe.directory {folder}",
            ) from None
        raise ZoneError(f"git cannot read the repository at {root}: {detail}") from None
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if not repo.head.is_valid():
        raise ZoneError(
            f"the git repository at {top} has no commit yet: no SHA to tag images with, "
            "and nothing to compare changes with",
            hint="commit once first: git add -A && git commit -m 'first commit'",
        )
    prefix = root.resolve().relative_to(Path(top).resolve()).as_posix()
    return Checkout(repo, "" if prefix == "." else prefix + "/")


def _pushed_over(environ: Mapping[str, str]) -> str | None:
    """A push event's `before` commit; None for other events and for a new branch."""
    if environ.get("GITHUB_EVENT_NAME") != "push" or not environ.get("GITHUB_EVENT_PATH"):
        return None
    try:
        with open(environ["GITHUB_EVENT_PATH"]) as handle:
            before = json.load(handle).get("before") or ""
    except (OSError, ValueError, AttributeError):
        return None
    return before if before.strip("0") else None  # all zeros: the branch is new


def find_base(
    checkout: Checkout, explicit: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str | None, str]:
    """The ref to compare with and how it was chosen; (None, why) when none is found.

    An explicit --base that does not resolve is the user's error; auto-detection that
    finds nothing is not (the plan then builds everything).
    """
    if explicit:
        if not checkout.resolves(explicit):
            raise ZoneError(
                f"--base {explicit!r} does not name a commit in this repository",
                hint="fetch it first (git fetch origin BRANCH) or name an existing branch or SHA",
            )
        return explicit, "given with --base"
    in_actions = bool(environ.get("GITHUB_ACTIONS"))
    pr_base = environ.get("GITHUB_BASE_REF", "") if in_actions else ""
    before = _pushed_over(environ) if in_actions else None
    if before and checkout.resolves(before):
        # A push compares with what the branch was before it: on master, the base is
        # master itself, and comparing with it would find nothing changed.
        return before, "the branch before this push (the push event's `before`)"
    if pr_base:
        ref = f"origin/{pr_base}"
        if checkout.resolves(ref):
            return ref, "the pull request's base branch (GITHUB_BASE_REF)"
        return None, f"the pull request's base {ref} is not fetched (use fetch-depth: 0)"
    try:
        origin_head = checkout.repo.git.symbolic_ref("--short", "refs/remotes/origin/HEAD")
    except git.GitCommandError:
        origin_head = ""
    for ref in filter(None, (origin_head, *FALLBACK_BASES)):
        if checkout.resolves(ref):
            return ref, "origin/HEAD" if ref == origin_head else "the first default branch found"
    return None, f"none of origin/HEAD, {', '.join(FALLBACK_BASES)} exists"
