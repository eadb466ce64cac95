"""Findings of hadolint, the layer check and the pin check on stacked images, by rule.

    python benchmarks/lint_stacked.py [--runner CHECKOUT] [REPOSITORY]

REPOSITORY: a repository with images/ and its bake file (default: the sister-shaped set
of tasks/tests/cli/test_lint_stacked.py, made in a temp folder). CHECKOUT: the runner to lint
with (default: this one; an older commit's `git archive` to compare before and after).
Prints one line per finding (check, folder:line, message) and then the count per check and
rule, so that two runs can be compared line by line.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
from tasks.tests.cli.test_lint_stacked import sister_shape  # noqa: E402
from tasks.tests.support import clean_env  # noqa: E402

_HOOK = re.compile(r"^(\S[^.]*)\.{3,}(?:Passed|Failed|Skipped)")
_FINDING = re.compile(r"^\s*\S+/images/([\w.-]+)/Dockerfile:(\d+):? (.*)$")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runner", type=Path, default=HERE)
    parser.add_argument("repository", type=Path, nargs="?")
    args = parser.parse_args()
    root = args.repository or sister_shape(Path(tempfile.mkdtemp()) / "sister")
    only = ["--only", "hadolint", "--only", "layers", "--only", "pins"]
    result = subprocess.run(
        [sys.executable, "-m", "tasks", "lint", *only, str(root.resolve() / "images")],
        cwd=args.runner,
        env={**clean_env(), "PYTHONPATH": str(args.runner.resolve())},
        capture_output=True,
        text=True,
        check=False,
    )
    counts: collections.Counter[str] = collections.Counter()
    check = ""
    for line in result.stderr.splitlines():
        hook = _HOOK.match(line)
        check = hook.group(1) if hook else check
        found = _FINDING.match(line)
        if found:
            folder, number, message = found.groups()
            print(f"{check}\t{folder}:{number}\t{message}")
            rule = message.split()[0] if check == "hadolint" else " ".join(message.split()[:2])
            counts[f"{check} {rule}"] += 1
    print(f"\n{sum(counts.values())} findings")
    for key, count in sorted(counts.items()):
        print(f"{count:5}  {key}")


if __name__ == "__main__":
    main()
