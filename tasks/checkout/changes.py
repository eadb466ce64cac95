"""What changed since the merge base, according to git, asked through GitPython.

GitPython is the one way the runner talks to git. Its object model reads HEAD; the
questions git answers best (diffs, status, merge bases) go through its `Git.execute`,
as bytes decoded here: text mode would turn a "\r" inside a file name into "\n".
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

# Without git on PATH, GitPython's import would fail with its own long message; quiet
# here, the first command then says "git is not installed" (below).
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git

from tasks.console import ZoneError

# Tried in order when neither --base nor GitHub Actions names the base branch.
FALLBACK_BASES = ("origin/master", "origin/main", "master", "main")


class GitFailed(Exception):
    """git exited non-zero; its message is the error's text."""


def _git(runner: git.Git, *args: str) -> str:
    """git's standard output for ARGS, run by `runner` in its folder; GitFailed with
    git's message."""
    try:
        status, out, err = runner.execute(
            ["git", *args],
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
    except git.GitCommandNotFound:
        raise ZoneError("git is not installed", hint="install git, then run this again") from None
    if status != 0:
        message = err.strip() if isinstance(err, str) else ""
        raise GitFailed(message or f"git {args[0]} exited {status}")
    assert isinstance(out, bytes)
    return out.decode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class Checkout:
    """The repository the project lives in, seen from the project's root folder."""

    repo: git.Repo
    prefix: str  # the project root relative to the repository's top, "" when they match
    sha: str  # HEAD's commit
    branch: str | None  # the checked-out branch, None on a detached HEAD

    @property
    def top(self) -> Path:
        """The repository's top folder."""
        return Path(self.repo.working_dir)

    def git(self, *args: str) -> str:
        return _git(self.repo.git, *args)

    def resolves(self, ref: str) -> bool:
        try:
            self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except GitFailed:
            return False
        return True

    def merge_base(self, ref: str) -> str | None:
        try:
            return self.git("merge-base", "--end-of-options", ref, "HEAD").strip() or None
        except GitFailed:
            return None

    def branch_of(self, ref: str) -> str | None:
        """The branch a ref names (origin/master -> master), None for a SHA or a tag."""
        if ref.startswith("-"):  # no ref starts with "-"; git would take it as an option
            return None
        try:
            full = self.git("rev-parse", "--symbolic-full-name", ref).strip()
        except GitFailed:
            return None
        if full.startswith("refs/heads/"):
            return full.removeprefix("refs/heads/")
        if full.startswith("refs/remotes/"):
            return full.removeprefix("refs/remotes/").split("/", 1)[-1]
        return None

    def symbolic_ref(self, name: str) -> str | None:
        """Where a symbolic ref (origin/HEAD) points, short form; None when it is not set."""
        try:
            return self.git("symbolic-ref", "--quiet", "--short", name).strip() or None
        except GitFailed:
            return None

    def changed_paths(self, since: str) -> list[str]:
        """Committed, staged, unstaged and untracked-not-ignored paths, root-relative."""
        try:
            # --no-renames: a moved file changes the folder it left and the one it joined.
            diffed = self.git("diff", "--name-only", "--no-renames", "-z", since, "--")
            untracked = self.git("ls-files", "--others", "--exclude-standard", "-z")
        except GitFailed as exc:
            raise ZoneError(f"git failed: {exc}") from None
        # git quotes nothing with -z, and paths come relative to the repository's top.
        paths = {p for p in (diffed + "\0" + untracked).split("\0") if p}
        return sorted(self._relative(p) for p in paths if p.startswith(self.prefix))

    def dirty_paths(self) -> list[str]:
        """The project's paths that differ from HEAD: staged, unstaged, untracked-not-ignored."""
        try:
            status = self.git(
                "status",
                "--porcelain=v1",
                "-z",
                "--no-renames",
                "--untracked-files=all",
                "--",
                self.prefix or ".",
            )
        except GitFailed as exc:
            raise ZoneError(f"git status failed: {exc}") from None
        # Each entry is "XY PATH", relative to the repository's top.
        paths = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
        return sorted(self._relative(path) for path in paths)

    def file_at(self, sha: str, path: str) -> str | None:
        try:
            return self.git("show", f"{sha}:{self.prefix}{path}")
        except GitFailed:
            return None

    def _relative(self, path: str) -> str:
        return path[len(self.prefix) :]


def open_checkout(root: Path) -> Checkout | None:
    """The git checkout holding `root`; None when there is none. A repository git refuses
    to read (another user's, "dubious ownership") or one with no commit yet is an error
    that says what to do: neither may pass for "not a git repository"."""
    if not root.is_dir():
        return None
    try:
        # git itself says where the repository is, or why it will not read it.
        top = Path(_git(git.Git(root), "rev-parse", "--show-toplevel").strip())
    except GitFailed as exc:
        detail = str(exc)
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
    repo = git.Repo(top)
    try:
        sha = repo.head.commit.hexsha
    except ValueError:  # HEAD names a branch with no commit
        raise ZoneError(
            f"the git repository at {top} has no commit yet: no SHA to tag images with, "
            "and nothing to compare changes with",
            hint="commit once first: git add -A && git commit -m 'first commit'",
        ) from None
    branch = None if repo.head.is_detached else repo.active_branch.name
    prefix = root.resolve().relative_to(top.resolve()).as_posix()
    return Checkout(repo, "" if prefix == "." else prefix + "/", sha, branch)


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
    origin_head = checkout.symbolic_ref("refs/remotes/origin/HEAD") or ""
    for ref in filter(None, (origin_head, *FALLBACK_BASES)):
        if checkout.resolves(ref):
            return ref, "origin/HEAD" if ref == origin_head else "the first default branch found"
    return None, f"none of origin/HEAD, {', '.join(FALLBACK_BASES)} exists"
