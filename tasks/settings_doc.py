"""The README's settings table, generated from the declarations in tasks/settings.py.

`nox -s docs` rewrites the part of README.md between the two markers (a README without
them is left alone); `nox -s lint` (its docs check) and the tests fail when it is stale.
"""

from __future__ import annotations

from pathlib import Path

from tasks.settings import SETTINGS, Setting

README = "README.md"
BEGIN = "<!-- settings: generated from tasks/settings.py by `nox -s docs`; do not edit -->"
END = "<!-- /settings -->"


def table() -> str:
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


def rewritten(text: str) -> str | None:
    """The README with its settings table current; None when it has no markers."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[: start + len(BEGIN)] + "\n" + table() + text[end:]


def stale(root: Path) -> str | None:
    """Why the README's settings table does not match the declarations; None when it does
    (or when the README has no table of ours)."""
    path = root / README
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    current = rewritten(text)
    if current is not None and current != text:
        return "stale: the settings table does not match tasks/settings.py; run `nox -s docs`"
    return None


def write(root: Path) -> Path | None:
    """Rewrite the README's table; the path when it has one, else None."""
    path = root / README
    if not path.is_file():
        return None
    current = rewritten(path.read_text(encoding="utf-8"))
    if current is None:
        return None
    path.write_text(current, encoding="utf-8")
    return path
