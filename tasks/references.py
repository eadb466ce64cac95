"""What an image reference may look like: Docker's grammar (distribution/reference),
so a bad tag, prefix or image is refused when it is read, never passed on to bake or CI."""

from __future__ import annotations

import re

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# registry host[:port] and/or lowercase path components, as image references allow
REPO = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+|__)*)*")

_HOST = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
_COMPONENT = r"[a-z0-9]+(([_.]|__|-+)[a-z0-9]+)*"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE = re.compile(
    rf"(({_HOST})(:[0-9]+)?/)?{_COMPONENT}(/{_COMPONENT})*(:{TAG.pattern})?(@{_DIGEST})?"
)
# One image path component: what a stage name becomes in REPO/STAGE:TAG.
COMPONENT = re.compile(_COMPONENT)
NAME_LIMIT = 255  # characters in the name part (host and path), Docker's limit

TAG_RULE = "up to 128 of A-Z a-z 0-9 _ . - and not starting with . or -"


def is_image(text: str) -> bool:
    """A whole reference: [HOST[:PORT]/]PATH[:TAG][@DIGEST]."""
    match = IMAGE.fullmatch(text)
    if not match:
        return False
    name = text.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return len(name) <= NAME_LIMIT
