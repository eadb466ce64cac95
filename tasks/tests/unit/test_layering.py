"""The runner's packages import one way: each only from those below it (tasks/__init__.py
lists them in this order). Every import counts, also one inside a function or under
TYPE_CHECKING: it is still a dependency a reader has to follow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tasks.tests.support import PROJECT

# Lowest first. A module may import from its own package and from those before it.
LAYERS = (
    "tasks.console",
    "tasks.shared",
    "tasks.stack",
    "tasks.settings",
    "tasks.checkout",
    "tasks.planning",
    "tasks.docker",
    "tasks.pinning",
    "tasks.registry",
    "tasks.reports",
    "tasks.lint",
    "tasks.context",
    "tasks.commands",
    "tasks.cli",
    "tasks.__main__",
)
RUNNER = PROJECT / "tasks"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runner_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(RUNNER.rglob("*.py"))
        if "tests" not in path.relative_to(RUNNER).parts
    }


def layer(module: str) -> int | None:
    """The index in LAYERS of the layer holding `module`; None for `tasks` itself."""
    for index, name in enumerate(LAYERS):
        if module == name or module.startswith(name + "."):
            return index
    return None


def imported(path: Path, modules: set[str]) -> set[str]:
    """The runner's modules that `path` imports (`from tasks import x` names tasks.x when
    that is a module, and tasks itself otherwise)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                found.add(whole if whole in modules else node.module)
    return {name for name in found if name == "tasks" or name.startswith("tasks.")}


def test_every_module_of_the_runner_is_in_a_layer() -> None:
    outside = [name for name in runner_modules() if name != "tasks" and layer(name) is None]
    assert outside == [], "add the new package to LAYERS (and tasks/__init__.py's list)"


def test_the_top_docstring_lists_the_layers_in_order() -> None:
    docstring = ast.get_docstring(ast.parse((RUNNER / "__init__.py").read_text())) or ""
    listed = [line.split()[0] for line in docstring.splitlines() if line.startswith("  ")]
    assert listed == [name.split(".", 1)[1] for name in LAYERS]


@pytest.mark.parametrize("module", sorted(runner_modules()))
def test_imports_go_one_way(module: str) -> None:
    modules = set(runner_modules())
    own = layer(module)
    if own is None:
        return
    upward = sorted(
        name
        for name in imported(runner_modules()[module], modules)
        if (other := layer(name)) is not None and other > own
    )
    assert upward == [], f"{module} imports from a layer above its own"


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    """The check itself: a stack module that reads the plan is caught."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from tasks.planning import plan\n    return plan\n")
    names = imported(source, set(runner_modules()))
    assert names == {"tasks.planning.plan"}
    assert layer("tasks.planning.plan") > layer("tasks.stack.bakefile")  # type: ignore[operator]
