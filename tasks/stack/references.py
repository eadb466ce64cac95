"""Image references: Docker's grammar (distribution/reference) and the one type that holds
a parsed reference, so that nothing splits reference strings by hand. A bad tag, prefix or
image is refused when it is read, never passed on to bake or CI."""

from __future__ import annotations

import dataclasses
import re

from tasks.console import ZoneError

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# registry host[:port] and/or lowercase path components, as image references allow
REPO = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+|__)*)*")

_HOST = re.compile(
    r"(\[[0-9A-Fa-f:]+\]"  # an IPv6 address, in brackets
    r"|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r"(:[0-9]+)?"
)
_COMPONENT = r"[a-z0-9]+(([_.]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(/{_COMPONENT})*")
# The digest algorithms Docker accepts, and their length in hex digits (go-digest).
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
# One image path component: what a stage name becomes in REPO/STAGE:TAG.
COMPONENT = re.compile(_COMPONENT)
NAME_LIMIT = 255  # characters in the name part (host and path), Docker's limit

TAG_RULE = "up to 128 of A-Z a-z 0-9 _ . - and not starting with . or -"
FORM = (
    "an image reference is [HOST[:PORT]/]PATH[:TAG][@DIGEST], e.g. "
    "localhost:5000/team/base:v2 or ubuntu@sha256:<64 hex digits> (the path in lowercase)"
)

DOCKER_HUB = "docker.io"  # the host Docker logs in to for names without one
_HUB_NAMES = ("", DOCKER_HUB, "index.docker.io")  # index.docker.io: Docker's legacy name
_OFFICIAL = "library/"  # Docker Hub's namespace of official images


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """[REGISTRY/]PATH[:TAG][@DIGEST], each part as written: str() gives the text back."""

    registry: str  # HOST[:PORT]; "" when the name has none (then it is on Docker Hub)
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Docker's rules: the first path component is a registry when it has a '.' or a
        ':', is 'localhost', or has an upper-case letter (which a path may not have)."""
        name, at, digest = text.partition("@")
        tag = None
        last_colon = name.rfind(":")
        if last_colon > name.rfind("/"):
            name, tag = name[:last_colon], name[last_colon + 1 :]
        first, slash, rest = name.partition("/")
        is_host = first == "localhost" or any(c in first for c in ".:") or first != first.lower()
        registry, path = (first, rest) if slash and is_host else ("", name)
        problem = _problem(registry, path, tag, digest if at else None)
        if problem:
            raise ZoneError(f"{text!r} is not an image reference: {problem}", hint=FORM)
        return cls(registry, path, tag, digest if at else None)

    def format(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"{self.name}{tag}{digest}"

    def __str__(self) -> str:
        return self.format()

    @property
    def name(self) -> str:
        """REGISTRY/PATH as written: the repository, without tag or digest."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def host(self) -> str:
        """The registry to log in to (`docker login HOST`)."""
        return DOCKER_HUB if self.registry in _HUB_NAMES else self.registry

    @property
    def familiar_name(self) -> str:
        """The name as docker shows it: docker.io/library/ubuntu is ubuntu. Two names are
        the same repository when these are equal."""
        if self.registry not in _HUB_NAMES:
            return self.name
        path = self.path
        if path.startswith(_OFFICIAL) and "/" not in path.removeprefix(_OFFICIAL):
            path = path.removeprefix(_OFFICIAL)
        return path

    @property
    def familiar(self) -> str:
        """The whole reference as docker shows it: docker.io/library/ubuntu:22.04 is
        ubuntu:22.04."""
        return str(dataclasses.replace(self, registry="", path=self.familiar_name))

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository at TAG (no digest: the tag names what it serves)."""
        return _checked(dataclasses.replace(self, tag=tag, digest=None))

    def with_digest(self, digest: str) -> ImageRef:
        """The same repository at DIGEST (no tag: the digest names exactly one image)."""
        return _checked(dataclasses.replace(self, tag=None, digest=digest))


def _checked(ref: ImageRef) -> ImageRef:
    problem = _problem(ref.registry, ref.path, ref.tag, ref.digest)
    if problem:
        raise ZoneError(f"{str(ref)!r} is not an image reference: {problem}", hint=FORM)
    return ref


def _problem(registry: str, path: str, tag: str | None, digest: str | None) -> str | None:
    """What makes these parts no image reference; None when they are one."""
    if not path:
        return "it names no repository"
    if registry and not _HOST.fullmatch(registry):
        return f"its registry {registry!r} is not HOST[:PORT]"
    if not _PATH.fullmatch(path):
        if _PATH.fullmatch(path.lower()):
            return f"its repository path {path!r} must be lowercase"
        return (
            f"its repository path {path!r} is not lowercase components separated by '/' "
            "(a-z 0-9, and . _ - between them)"
        )
    if len(registry) + len(path) + bool(registry) > NAME_LIMIT:
        return f"its name is longer than {NAME_LIMIT} characters"
    if tag is not None and not TAG.fullmatch(tag):
        return f"its tag {tag!r} is not valid ({TAG_RULE})"
    if digest is not None:
        algorithm, _, hex_digits = digest.partition(":")
        length = _DIGEST_LENGTHS.get(algorithm)
        if length is None or not re.fullmatch(f"[0-9a-f]{{{length}}}", hex_digits):
            return (
                f"its digest {digest!r} is not ALGORITHM:HEX (sha256: and 64 lowercase hex "
                "digits, sha384: 96, sha512: 128)"
            )
    return None


def is_image(text: str) -> bool:
    """A whole reference: [HOST[:PORT]/]PATH[:TAG][@DIGEST]."""
    try:
        ImageRef.parse(text)
    except ZoneError:
        return False
    return True
