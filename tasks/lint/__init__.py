"""`nox -s lint`: every check over the repository, all of them run, every finding shown.

Each check is declared once, below: its name (what `--only` takes), what it finds (the
help and the README's table) and its hook. prek runs the checks as the hooks of
tasks/lint/hooks.yaml, which tasks/lint/hooks_file.py writes from these (`nox -s docs`);
each hook id is the check's name with spaces and "--" as "-" (HOOKS). This module imports
nothing: the command line reads it for --help without loading any check.
"""

from __future__ import annotations

import dataclasses

OURS = "python -m tasks.lint.hook"  # a check of ours (tasks/lint/hook.py, tasks/lint/run.py)


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    help: str  # what it finds
    # The hook's command; empty: ours (`python -m tasks.lint.hook NAME`).
    entry: str = ""
    # The hook's other keys (which files it takes, how it runs), as prek reads them.
    hook: tuple[tuple[str, object], ...] = ()
    # A check of the repository as a whole: no files passed, always run; without PATHs
    # only, or when --only names it.
    repository: bool = False
    why: str = ""  # the hooks file's comment on this hook

    @property
    def id(self) -> str:
        return self.name.replace(" --", " ").replace(" ", "-")

    @property
    def command(self) -> str:
        if self.entry:
            return self.entry
        return f'{OURS} "{self.name}"' if " " in self.name else f"{OURS} {self.name}"


_DOCKERFILES = (("types", ["dockerfile"]), ("require_serial", True))

DECLARED = (
    Check(
        "ruff format",
        "Python that ruff would format differently",
        entry="ruff format --check --force-exclude --output-format=concise",
        hook=(("types_or", ["python", "pyi"]),),
    ),
    Check(
        "ruff check",
        "ruff's lint findings in Python",
        entry="ruff check --no-fix --force-exclude --output-format=concise",
        hook=(("types_or", ["python", "pyi"]),),
    ),
    Check(
        "hadolint",
        "hadolint's warnings and errors in Dockerfiles, with the rules parent stages make "
        "wrong switched off per file",
        hook=_DOCKERFILES,
        why="Ours around hadolint: it switches off, file by file, the rules that file's parent\n"
        "stages make wrong (tasks/lint/stacked.py), in the config hadolint reads.",
    ),
    Check(
        "hadolint ignores",
        "a rule ignored (.hadolint.yaml, `# hadolint ignore=`) without a comment saying why",
        hook=(("types_or", ["dockerfile", "yaml"]), ("require_serial", True)),
        why="Dockerfiles' `# hadolint ignore=` lines, and .hadolint.yaml (a YAML file)",
    ),
    Check(
        "layers",
        "a RUN that copies earlier layers' files (chown, chmod) or leaves caches behind",
        hook=_DOCKERFILES,
    ),
    Check(
        "secrets",
        "a credential in an ARG or ENV, or a workflow's secret passed as a build arg",
        hook=(("types_or", ["dockerfile", "yaml"]), ("require_serial", True)),
    ),
    Check(
        "shellcheck",
        "shellcheck's findings in shell scripts, s6 `with-contenv` scripts included",
        hook=(("types", ["text"]), ("require_serial", True)),
        why="Ours around shellcheck: it picks the scripts (s6's `with-contenv bash` shebangs\n"
        "too, which shellcheck cannot read) and names their shell.",
    ),
    Check(
        "actionlint",
        "actionlint's findings in GitHub workflows (shellcheck on their `run:` scripts)",
        entry="actionlint",
        hook=(("files", r"(^|/)\.github/workflows/[^/]+\.ya?ml$"),),
        why="actionlint runs shellcheck on `run:` scripts when it finds it on PATH.",
    ),
    Check(
        "pins",
        "a pin written wrongly, a download no checksum verifies, a version written inline",
        hook=(*_DOCKERFILES, ("always_run", True)),
    ),
    Check(
        "unpinned args",
        "an ARG whose value looks like a pin without a `# pin:` line",
        hook=(("types", ["dockerfile"]),),
    ),
    Check(
        "mypy",
        "type errors in the Python the repository's mypy configuration names",
        entry="mypy",
        hook=(
            ("pass_filenames", False),
            ("files", r"^(tasks/.*\.py|noxfile\.py|pyproject\.toml)$"),
        ),
    ),
    Check(
        "scan allowlist",
        "an entry of .github/trivy-allowlist.yaml without an id, a reason or a real date",
        repository=True,
    ),
    Check(
        "build levels",
        "the docker workflow's build jobs out of step with the stage graph's levels",
        repository=True,
    ),
    Check("tests folders", "a tests/NAME/ that names no target", repository=True),
    Check("bake --print", "a target `docker buildx bake --print` refuses", repository=True),
    Check(
        "docs",
        "a stale docs/stages.md, README settings or checks table, or tasks/lint/hooks.yaml",
        repository=True,
    ),
)

CHECKS = tuple(check.name for check in DECLARED)
# Checks of the files found (all of the repository's, or those under the PATHs given).
FILE_CHECKS = tuple(check.name for check in DECLARED if not check.repository)
# Checks of this repository as a whole: run without PATHs, or when --only names them.
REPOSITORY_CHECKS = tuple(check.name for check in DECLARED if check.repository)
HOOKS = {check.name: check.id for check in DECLARED}
HELP = "prek runs every check: " + ", ".join(CHECKS)
