"""Our Dockerfile reader (tasks/stack/dockerfile.py) against BuildKit's own parser, which PyPI
ships as `dockerfile` (Go, compiled into the wheel), on every Dockerfile blob of one or
more git repositories: where they disagree, and how long each takes.

    uv run --with dockerfile==3.4.0 --with python-hcl2 python benchmarks/dockerfile_parser.py \
        [GIT_DIR ...]

With no GIT_DIR, this repository's history. Compared per instruction, on what the runner
reads: the first line, the keyword, the flags, the arguments (whitespace collapsed: we
join continuation lines with a space, BuildKit keeps the lines' own spacing) and the
heredoc bodies. Prints the count of files, where they differ (first few), and the time
of each parser over all files.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import time
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tasks.stack import dockerfile as ours

SPACES = re.compile(r"\s+")


def blobs(git_dir: str) -> dict[str, str]:
    """Every Dockerfile-named blob in the repository's history: {blob id: text}."""
    listed = subprocess.run(
        ["git", "--git-dir", git_dir, "rev-list", "--all", "--objects"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = {
        line.split()[0]
        for line in listed.splitlines()
        if len(line.split()) == 2 and "dockerfile" in line.split()[1].lower()
    }
    texts = {}
    for blob in sorted(ids):
        shown = subprocess.run(
            ["git", "--git-dir", git_dir, "cat-file", "-p", blob], capture_output=True
        )
        if shown.returncode == 0 and b"\0" not in shown.stdout:
            texts[blob] = shown.stdout.decode("utf-8", errors="replace")
    return texts


def collapse(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def by_ours(text: str) -> list[tuple]:
    return [
        (
            i.line,
            i.keyword,
            tuple(f"--{n}={v}" if v else f"--{n}" for n, v in i.flags),
            collapse(i.arguments),
            tuple(collapse(h) for h in i.heredocs),
        )
        for i in ours.parse(text)
    ]


def by_buildkit(text: str) -> list[tuple]:
    found = []
    for command in dockerfile.parse_string(text):
        # BuildKit's `original` is the instruction as written: keyword, flags, arguments.
        first = command.original.split("\n", 1)[0] if command.heredocs else command.original
        rest = collapse(re.sub(r"\\\s*\n", " ", first)).split(" ", 1)[1:]
        words = rest[0].split(" ") if rest else []
        while words and words[0].replace('"', "").replace("'", "") in command.flags:
            words.pop(0)
        found.append(
            (
                command.start_line,
                command.cmd.upper(),
                tuple(command.flags),
                collapse(" ".join(words)),
                tuple(collapse(h.content) for h in command.heredocs),
            )
        )
    return found


def main() -> None:
    git_dirs = sys.argv[1:] or [str(Path(__file__).resolve().parents[1] / ".git")]
    texts: dict[str, str] = {}
    for git_dir in git_dirs:
        texts.update(blobs(git_dir))
    differ: list[tuple[str, tuple | None, tuple | None]] = []
    timing = {"ours": 0.0, "buildkit": 0.0}
    failed = 0
    for blob, text in texts.items():
        start = time.perf_counter()
        mine = by_ours(text)
        timing["ours"] += time.perf_counter() - start
        start = time.perf_counter()
        try:
            theirs = by_buildkit(text)
        except dockerfile.GoParseError:
            failed += 1
            continue
        finally:
            timing["buildkit"] += time.perf_counter() - start
        if mine != theirs:
            pairs = itertools.zip_longest(mine, theirs)
            first = next((a, b) for a, b in pairs if a != b)
            differ.append((blob, *first))
    print(f"Dockerfile blobs: {len(texts)}; BuildKit refused {failed}")
    print(f"instruction lists that differ: {len(differ)}")
    for blob, mine_one, theirs_one in differ[:8]:
        print(f"  {blob[:10]}\n    ours:     {mine_one}\n    buildkit: {theirs_one}")
    for name, seconds in timing.items():
        print(f"{name}: {seconds:.2f} s over all blobs")


if __name__ == "__main__":
    main()
