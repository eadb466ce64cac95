"""List the image's VS Code extensions in the user's own code-server extension list.

The image installs its extensions in a folder of the image (CODE_SERVER_IMAGE_DIR,
/opt/code-server: extensions/ and the extension list code-server wrote there,
extensions/extensions.json, and languagepacks.json). code-server reads one extension
folder, the user's (~/.local/share/code-server/extensions, on the home volume), and loads
what that folder's extensions.json lists. At every start this script:

- links each image extension into the user's folder (a symlink to the image's copy) and
  lists it there, as code-server itself lists an extension it installed there;
- takes out the links and entries of an earlier image's versions, and the entries of the
  copies that earlier images staged into the home (LEGACY_STAGED below);
- keeps every extension the user installed, and when the user installed their own
  version of an image extension, keeps theirs in place of the image's;
- puts the image's language packs in the user's languagepacks.json (other languages
  there stay), so the display language follows the image's language pack.

Run as the user, by the cont-init script 03-vscode-extensions. Exits 1 with a message on
a problem; that script turns it into a warning.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Extensions that images before the read-only image folder copied into the homes, as
# "id@version" (lowercase): their entries are the image's, not the user's.
LEGACY_STAGED = {
    "ms-python.python@2025.0.0",
    "ms-toolsai.jupyter@2024.11.0",
    "reditorsupport.r@2.8.1",
    "quarto.quarto@1.90.1",
    "ms-ceintl.vscode-language-pack-fr@1.105.2025101509",
}


def load(path: Path, default):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def write(path: Path, value) -> None:
    """Write JSON whole: a new file renamed over the old one."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1) + "\n")
    partial.replace(path)


def folder_of(entry: dict) -> str:
    if entry.get("relativeLocation"):
        return entry["relativeLocation"]
    return Path(entry["location"]["path"]).name


def key(entry: dict) -> str:
    return entry["identifier"]["id"].lower()


def links_into(link: Path, folder: Path) -> bool:
    return link.is_symlink() and Path(os.readlink(link)).parent == folder


def register(image_dir: Path, data_dir: Path) -> str:
    image_extensions = image_dir / "extensions"
    image_list = load(image_extensions / "extensions.json", None)
    if image_list is None:
        raise SystemExit(f"no extension list in {image_extensions}: nothing to register")
    user_extensions = data_dir / "extensions"
    user_extensions.mkdir(parents=True, exist_ok=True)
    user_list = load(user_extensions / "extensions.json", [])

    kept = []
    for entry in user_list:
        folder = user_extensions / folder_of(entry)
        staged = f"{key(entry)}@{entry.get('version', '')}" in LEGACY_STAGED
        if links_into(folder, image_extensions) or staged:
            continue  # the image's, listed afresh below
        kept.append(entry)
    users_own = {key(entry) for entry in kept}

    wanted = {folder_of(entry) for entry in image_list if key(entry) not in users_own}
    for link in user_extensions.iterdir():
        if links_into(link, image_extensions) and link.name not in wanted:
            link.unlink()  # an earlier image's version
    added = 0
    for entry in image_list:
        if key(entry) in users_own:
            continue
        name = folder_of(entry)
        link = user_extensions / name
        if not link.is_symlink():
            link.symlink_to(image_extensions / name)
        listed = dict(entry, relativeLocation=name)
        listed["location"] = {"$mid": 1, "path": str(link), "scheme": "file"}
        kept.append(listed)
        added += 1
    write(user_extensions / "extensions.json", kept)

    packs = load(image_dir / "languagepacks.json", {})
    if packs:
        languages = load(data_dir / "languagepacks.json", {})
        languages.update(packs)
        write(data_dir / "languagepacks.json", languages)
    return (
        f"{added} image extension(s) listed, {len(kept) - added} of the user's kept, "
        f"language pack(s): {', '.join(sorted(packs)) or 'none'}"
    )


def main() -> None:
    image_dir = Path(os.environ.get("CODE_SERVER_IMAGE_DIR", "/opt/code-server"))
    home = Path(os.environ.get("HOME", "/home/jovyan"))
    data_dir = Path(os.environ.get("CODE_SERVER_DATA_DIR", home / ".local/share/code-server"))
    try:
        print(f"register_vscode_extensions: {register(image_dir, data_dir)}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"register_vscode_extensions: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
