"""`nox -s lint`: every check over the repository, all of them run, every finding shown.

prek runs the checks as the hooks of tasks/lint/hooks.yaml; each check's hook id is
its name with spaces and "--" as "-" (HOOKS).
"""

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
    "unpinned args",
    "mypy",
)
# Checks of this repository as a whole: run without PATHs, or when --only names them.
REPOSITORY_CHECKS = ("scan allowlist", "build levels", "tests folders", "bake --print", "docs")
CHECKS = FILE_CHECKS + REPOSITORY_CHECKS
HOOKS = {name: name.replace(" --", " ").replace(" ", "-") for name in CHECKS}
