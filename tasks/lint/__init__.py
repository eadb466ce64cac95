"""`nox -s lint`: every check over the repository, all of them run, every finding shown."""

# Checks of the files found (all of the repository's, or those under the PATHs given).
FILE_CHECKS = (
    "ruff format",
    "ruff check",
    "hadolint",
    "hadolint ignores",
    "layers",
    "secrets",
    "shellcheck",
    "actionlint",
    "pins",
)
# Checks of this repository as a whole: run without PATHs, or when --only names them.
REPOSITORY_CHECKS = ("scan allowlist", "build levels", "bake --print", "docs")
CHECKS = FILE_CHECKS + REPOSITORY_CHECKS
