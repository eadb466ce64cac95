"""Files written whole or not at all, so that no reader ever sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_whole(path: Path, text: str) -> None:
    """`text` into `path`: a temporary file beside it, renamed into place. Raises
    OSError, and then leaves nothing behind (the old file, if any, is untouched)."""
    partial = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            partial = Path(handle.name)
            handle.write(text)
        os.replace(partial, path)
    except OSError:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise


def cache_folder(name: str, override: str = "") -> Path:
    """The runner's cache folder NAME: the variable `override` names when set, else under
    $XDG_CACHE_HOME (or ~/.cache), shared by every checkout on the machine."""
    if override and os.environ.get(override):
        return Path(os.environ[override])
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "zone-kubeflow-containers" / name
