"""The README's generated parts: the settings table (from tasks/settings.py) and the lint
checks table (from tasks/lint/__init__.py).

`nox -s docs` rewrites each part between its two markers (a README without them is left
alone); `nox -s lint` (its docs check) and the unit tests fail when one is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from tasks.lint import DECLARED
from tasks.settings import SETTINGS, Setting

README = "README.md"


class Part(NamedTuple):
    name: str
    source: str  # where its facts are declared
    render: Callable[[], str]

    @property
    def begin(self) -> str:
        return f"<!-- {self.name}: generated from {self.source} by `nox -s docs`; do not edit -->"

    @property
    def end(self) -> str:
        return f"<!-- /{self.name} -->"


def settings_table() -> str:
    lines = [
        "| setting | environment | flag | default | what it is |",
        "| --- | --- | --- | --- | --- |",
    ]
    for setting in SETTINGS.values():
        env = f"`{setting.env}`" + (f" ({setting.env_note})" if setting.env_note else "")
        flag = f"`{setting.flag}`" if setting.flag else ""
        lines.append(
            f"| `{setting.key}` | {env} | {flag} | {_default(setting)} | {_meaning(setting)} |"
        )
    return "\n".join(lines) + "\n"


def _default(setting: Setting) -> str:
    value = setting.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`" if value else setting.unset


def _meaning(setting: Setting) -> str:
    if setting.bounds:
        return f"{setting.help} ({setting.bounds[0]:g}-{setting.bounds[1]:g})"
    return setting.help


def checks_table() -> str:
    lines = ["| check (`--only`) | what it finds | on |", "| --- | --- | --- |"]
    for check in DECLARED:
        on = "the repository" if check.repository else "the files"
        lines.append(f"| `{check.name}` | {check.help} | {on} |")
    return "\n".join(lines) + "\n"


PARTS = (
    Part("settings", "tasks/settings.py", settings_table),
    Part("lint checks", "tasks/lint/__init__.py", checks_table),
)


def rewritten(text: str) -> str:
    """The README with each of its generated parts current."""
    for part in PARTS:
        start, end = text.find(part.begin), text.find(part.end)
        if 0 <= start < end:
            text = text[: start + len(part.begin)] + "\n" + part.render() + text[end:]
    return text


def stale(root: Path) -> str | None:
    """Why the README's generated parts do not match their declarations; None when they do
    (or when the README has none of them)."""
    path = root / README
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if rewritten(text) != text:
        names = [p.name for p in PARTS if p.begin in text and p.render() not in text]
        return (
            f"stale: the {' and '.join(names)} table does not match its declarations; "
            "run `nox -s docs`"
        )
    return None


def write(root: Path) -> Path | None:
    """Rewrite the README's generated parts; its path when it has any, else None."""
    path = root / README
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not any(part.begin in text for part in PARTS):
        return None
    path.write_text(rewritten(text), encoding="utf-8")
    return path
