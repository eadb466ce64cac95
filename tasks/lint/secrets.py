"""Credentials must not travel as build args or ENV: both stay in the image.

A build arg's value is kept in the image history and in provenance attestations, an ENV
in the image config, for anyone who can pull it. Two places let one in:
- a Dockerfile `ARG`/`ENV` whose name says it holds a credential (the words BuildKit's
  SecretsUsedInArgOrEnv check looks for: key, secret, token, password ...), unless the
  name says it is something public about one (a fingerprint, checksum, URL or path);
- a workflow that hands `${{ secrets.* }}` to a build as a build arg (`--build-arg`,
  `--set TARGET.args.NAME=`, or the `build-args:` input of docker's actions), directly or
  through an environment variable set from a secret.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tasks.lint.files import read_dockerfile
from tasks.lint.finding import Finding
from tasks.stack.dockerfile import parse

CHECK = "secrets"
# Words of a variable name (split on `_`) that say it holds a credential: BuildKit's list.
_SECRET_WORDS = {
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
}
# Words that say the value is public: BuildKit's `public`, and what identifies or locates a
# credential without being one (GPG_KEY_FINGERPRINT, KEY_SHA256, TOKEN_URL, SECRET_FILE).
_PUBLIC_WORDS = {
    "public",
    "pub",
    "fingerprint",
    "checksum",
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "hash",
    "url",
    "uri",
    "path",
    "file",
    "dir",
}
_SECRET_REFERENCE = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)")
_ENV_FROM_SECRET = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:.*\$\{\{\s*secrets\.([A-Za-z0-9_]+)"
)
_BUILD_ARG = re.compile(r"(?:--build-arg(?:=|\s+)\s*|\.args\.)([A-Za-z_][A-Za-z0-9_]*)=")
# `--build-arg NAME` with no value: the value is the environment variable NAME.
_BUILD_ARG_FROM_ENV = re.compile(r"--build-arg(?:=|\s+)([A-Za-z_][A-Za-z0-9_]*)(?=[\s'\"]|$)")
_ARG_LINE = re.compile(r"^\s*(?:-\s+)?['\"]?([A-Za-z_][A-Za-z0-9_]*)=")
_BUILD_ARGS_KEY = re.compile(r"^(\s*)(?:-\s+)?build-args\s*:\s*(.*)$")
_SHELL_VARIABLE = re.compile(r"^['\"]?\$\{?([A-Za-z_][A-Za-z0-9_]*)")

_DOCKERFILE_HINT = (
    "it stays in the image for anyone who pulls it: read it in the RUN that needs it with "
    "`RUN --mount=type=secret,id=NAME` and build with `nox -s bake -- --secret id=NAME,env=VAR`"
)
_WORKFLOW_HINT = (
    "build args stay in the image history and provenance: pass it as a BuildKit secret "
    "(`nox -s bake -- --secret id={arg},env=VAR` with VAR set from the secret, read with "
    "`RUN --mount=type=secret,id={arg}`)"
)


def is_secret_name(name: str) -> bool:
    words = {word for word in name.lower().split("_") if word}
    return bool(words & _SECRET_WORDS) and not words & _PUBLIC_WORDS


def check_dockerfile(path: Path, shown_as: str) -> list[Finding]:
    try:
        instructions = parse(read_dockerfile(path))
    except (OSError, UnicodeDecodeError):
        return []  # the layer check reports unreadable files
    findings = []
    for item in instructions:
        if item.keyword not in ("ARG", "ENV"):
            continue
        for name in _declared_names(item.keyword, item.arguments):
            if is_secret_name(name):
                message = f"{item.keyword} {name} looks like a credential: {_DOCKERFILE_HINT}"
                findings.append(Finding(shown_as, item.line, message, CHECK))
    return findings


def _declared_names(keyword: str, arguments: str) -> list[str]:
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    if keyword == "ENV" and words and "=" not in words[0]:
        return [words[0]]  # the legacy `ENV NAME value` form
    return [word.split("=", 1)[0] for word in words if word.split("=", 1)[0]]


def check_workflow(path: Path, shown_as: str) -> list[Finding]:
    """Secrets handed to a build as build args, in a workflow or a composite action."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []  # actionlint reports unreadable workflows
    from_secrets = {m.group(1): m.group(2) for m in map(_ENV_FROM_SECRET.match, lines) if m}
    findings = []
    block_indent: int | None = None  # inside a `build-args:` block scalar or list
    for number, line in enumerate(lines, 1):
        passed: list[tuple[str, str]] = []  # (build arg, secret)
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and line.strip() and indent <= block_indent:
            block_indent = None
        key = _BUILD_ARGS_KEY.match(line)
        if key:
            block_indent = len(key.group(1))
            inline = key.group(2).strip()
            passed += _arg_lines(inline, from_secrets)
        elif block_indent is not None:
            passed += _arg_lines(line, from_secrets)
        for match in _BUILD_ARG.finditer(line):
            secret = _secret_in(_value_after(line, match.end()), from_secrets)
            if secret:
                passed.append((match.group(1), secret))
        passed += [
            (m.group(1), from_secrets[m.group(1)])
            for m in _BUILD_ARG_FROM_ENV.finditer(line)
            if m.group(1) in from_secrets
        ]
        for arg, secret in dict.fromkeys(passed):
            message = (
                f"secret {secret} is passed to the build as build arg {arg}: "
                f"{_WORKFLOW_HINT.format(arg=arg.lower())}"
            )
            findings.append(Finding(shown_as, number, message, CHECK))
    return findings


def _arg_lines(text: str, from_secrets: dict[str, str]) -> list[tuple[str, str]]:
    """NAME=VALUE lines of a `build-args:` input."""
    match = _ARG_LINE.match(text)
    if not match:
        return []
    secret = _secret_in(text[match.end() :], from_secrets)
    return [(match.group(1), secret)] if secret else []


def _value_after(line: str, start: int) -> str:
    rest = line[start:]
    cut = rest.find(" --")
    return rest if cut < 0 else rest[:cut]


def _secret_in(value: str, from_secrets: dict[str, str]) -> str:
    """The secret a build-arg value is: `${{ secrets.X }}`, or $VAR set from one; else ''."""
    reference = _SECRET_REFERENCE.search(value)
    if reference:
        return reference.group(1)
    variable = _SHELL_VARIABLE.match(value.strip())
    if variable and variable.group(1) in from_secrets:
        return from_secrets[variable.group(1)]
    return ""
