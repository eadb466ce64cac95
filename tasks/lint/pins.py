"""Pins in the Dockerfiles: every download checksum-verified in the RUN that fetches it,
every conda, pip and apt-source version taken from a pin ARG (so docs/pins.md lists
it and `nox -s pins` checks it), the pins written rightly, and docs/pins.md current.
"""

from __future__ import annotations

import re
import shlex

from tasks.console import ZoneError
from tasks.lint.files import read_dockerfile
from tasks.lint.finding import Finding
from tasks.pinning import pins
from tasks.reports import docs
from tasks.settings import Settings
from tasks.stack.dockerfile import Instruction, parse

CHECK = "pins"
_COMMENT = re.compile(r"(?m)(^|\s)#.*$")
# Commands end at && || ; and newlines; a pipe keeps `echo SUM FILE | sha256sum -c` whole.
_COMMANDS = re.compile(r"&&|\|\||;|\n")
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_CHECKSUM = re.compile(r"\bsha(?:256|512)sum\b[^|;&\n]*(?:\s-c\b|\s--check\b)")
_CONDA = re.compile(
    r"\b(?:conda|mamba|micromamba)\s+(?:install|create|update)\b|"
    r"\b(?:conda|mamba|micromamba)\s+env\s+(?:create|update)\b"
)
# pip's general options may come before its command: `pip3 --no-cache-dir install ...`
_PIP = re.compile(
    r"\b(?:pip3?(?:\.\d+)?|python[\d.]*\s+-m\s+pip)(?:\s+--?[A-Za-z][-\w]*(?:=\S+)?)*\s+install\b"
)
_APT_LINE = re.compile(r"(?:^|[\s\"'])deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)|\bURIs:\s*(\S+)")
# Words that may come before a command's name: `then curl`, `sudo curl`, `X=1 curl`.
_PREFIXES = {"then", "do", "else", "sudo", "exec", "time", "!", "{", "(", "|"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*")
# name, then a version constraint (pip: name[extras]==1.2; conda: [channel::]name=1.2)
_PIP_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*"
    r"(?P<op>===|==|~=|!=|<=|>=|<|>)\s*(?P<version>\S.*)"
)
_CONDA_SPEC = re.compile(
    r"(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9._-]*)\s*"
    r"(?P<op>==|>=|<=|!=|~=|=|<|>|\s)\s*(?P<version>\S.*)"
)
# Options whose value is the next word (so that word is no package).
_PIP_VALUED = {
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
    "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
    "--platform", "--python-version", "--implementation", "--abi", "--trusted-host",
    "--cache-dir", "--src", "--upgrade-strategy", "--only-binary", "--no-binary", "--log",
    "--proxy", "--retries", "--timeout", "--cert", "--client-cert", "--progress-bar",
    "--config-settings", "-C", "--global-option", "--exists-action", "--report",
}  # fmt: skip
_CONDA_VALUED = {
    "-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "-f", "--repodata-fn",
    "--root-prefix", "-r", "--platform", "--subdir", "--category",
}  # fmt: skip
_KIND_OF = {"pip": "pypi", "conda": "conda", "apt": "apt-source"}


def check(settings: Settings, dockerfiles: list[str], repository: bool = True) -> list[Finding]:
    """Each Dockerfile's pins, downloads and versions; with `repository`, also the pins of
    the stages' Dockerfiles and the bake file as a whole, and docs/pins.md."""
    root = settings.root
    findings = []
    for path in dockerfiles:
        try:
            text = read_dockerfile(root / path)
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding(path, 1, f"cannot read: {exc}", CHECK))
            continue
        found = check_text(text, path)
        findings += [Finding(path, line, message, CHECK) for line, message in found]
    if not repository:  # PATHs given: these files only
        return findings
    try:
        _, problems = pins.collect(root, settings.bake_path)
    except ZoneError as error:  # a bad bake file: the bake --print check says more
        return [*findings, Finding(settings.bake_file, 1, error.message, CHECK)]
    # read_dockerfile's problems for files checked above are already in; add the others
    seen = {(f.path, f.line, f.message) for f in findings}
    findings += [
        Finding(p.file, p.line, p.message, CHECK)
        for p in problems
        if (p.file, p.line, p.message) not in seen
    ]
    if not problems:
        stale = docs.pins_stale(root, settings.bake_path)
        if stale:
            findings.append(Finding(docs.PINS_DOC, 1, stale, "docs"))
    return findings


def check_text(text: str, shown_as: str = "Dockerfile") -> list[tuple[int, str]]:
    """(line, message) for one Dockerfile: how its pins are written, and its RUN steps."""
    declared, problems = pins.read_dockerfile(text, shown_as)
    found = [(p.line, p.message) for p in problems]
    by_arg = {pin.arg: pin for pin in declared}
    variables: dict[str, str] = {}
    for item in parse(text):
        if item.keyword in ("ARG", "ENV"):
            variables.update(_defaults(item.arguments))
        elif item.keyword == "ADD":
            found += _add(item, variables)
        elif item.keyword == "RUN":
            script = _COMMENT.sub(r"\1", item.script)
            keys = [arg for arg, pin in by_arg.items() if pin.kind == "fingerprint"]
            found += [(item.line, message) for message in _downloads(script, keys, variables)]
            found += [(item.line, message) for message in _versions(script, by_arg)]
    return found


def _add(item: Instruction, variables: dict[str, str]) -> list[tuple[int, str]]:
    """ADD of a URL must say --checksum (BuildKit then verifies it)."""
    words = _words(item.arguments)
    sources = [_expand(word, variables) for word in words[:-1]]
    if any("://" in source for source in sources) and not item.flag_values("checksum"):
        return [(item.line, "ADD of a URL without --checksum=sha256:${..._SHA256}: verify it")]
    return []


def _downloads(script: str, keys: list[str], variables: dict[str, str]) -> list[str]:
    """A curl or wget whose file no `sha256sum -c` of the same RUN checks. A signing key
    streamed into gpg counts as checked when the RUN compares a fingerprint pin (`keys`).
    The file may be saved with -o, -O (the URL's name, ARG/ENV defaults expanded) or `>`."""
    commands = _COMMANDS.split(script)
    checks = [command for command in commands if _CHECKSUM.search(command)]
    fingerprinted = "gpg" in script and any(re.search(rf"\$\{{?{key}\b", script) for key in keys)
    messages = []
    for command in commands:
        for tool, target in _fetches(command):
            if target is None and fingerprinted and "gpg" in command:
                continue
            if target is None:
                messages.append(
                    f"{tool} streams a download into another command unchecked: save it to a "
                    "file and verify it with `sha256sum -c` in this RUN"
                )
            elif not any(
                _mentions(check, target) or _mentions(check, _expand(target, variables))
                for check in checks
            ):
                messages.append(
                    f"{tool} downloads {target} without a checksum: verify it in this RUN "
                    f'(`echo "${{..._SHA256}}  {target}" | sha256sum -c -`)'
                )
    return messages


def _fetches(command: str) -> list[tuple[str, str | None]]:
    """(tool, the file it writes, or None for stdout) for each curl/wget in a command."""
    words = _words(command)
    fetches: list[tuple[str, str | None]] = []
    at_start = True  # is this word where a command's name goes?
    for index, word in enumerate(words):
        tool = word.lstrip("$(`").rsplit("/", 1)[-1]
        was_start, at_start = at_start, word in _PREFIXES or bool(_ASSIGNMENT.fullmatch(word))
        if tool not in ("curl", "wget") or not (was_start or word.startswith(("$(", "`"))):
            continue
        rest = words[index + 1 :]
        target = _output(tool, rest)
        if target is None and "|" not in rest and tool == "wget":
            urls = [w for w in rest if "://" in w or w.startswith("$")]
            target = urls[-1].rsplit("/", 1)[-1] if urls else None  # wget's default name
        fetches.append((tool, target))
    return fetches


def _output(tool: str, words: list[str]) -> str | None:
    flags = ("-o", "--output") if tool == "curl" else ("-O", "--output-document")
    cluster = re.compile(r"-[A-Za-z]*o" if tool == "curl" else r"-[A-Za-z]*O(-?)")
    for index, word in enumerate(words):
        if word == "|":
            break
        if word in (">", ">>") and index + 1 < len(words):  # `curl URL > FILE`
            return words[index + 1]
        short = cluster.fullmatch(word)
        if short and short.groups() and short.group(1):  # wget -qO-: to stdout
            return None
        if (word in flags or short) and index + 1 < len(words):
            return None if words[index + 1] == "-" else words[index + 1]
        for flag in flags:
            if flag.startswith("--") and word.startswith(flag + "="):
                return word.split("=", 1)[1]
        remote = word == "--remote-name" or re.fullmatch(r"-[A-Za-z]*O[A-Za-z]*", word)
        if tool == "curl" and remote and index + 1 < len(words):  # -O, -LO, -sLO ...
            return words[index + 1].rsplit("/", 1)[-1]  # the URL's last part
    return None


def _mentions(check: str, target: str) -> bool:
    return target in check or target.rsplit("/", 1)[-1] in re.split(r"[\s\"'()]+", check)


def _versions(script: str, by_arg: dict[str, pins.Pin]) -> list[str]:
    """Literal versions in conda, pip and apt-source lines: they must come from pin ARGs."""
    messages = []
    for command in _COMMANDS.split(script):
        if _PIP.search(command):
            words = _after(_PIP, command)
            messages += [_literal_or_pin("pip", spec, by_arg) for spec in _pip_specs(words)]
        if _CONDA.search(command):
            words = _after(_CONDA, command)
            messages += [_literal_or_pin("conda", spec, by_arg) for spec in _conda_specs(words)]
        for match in _APT_LINE.finditer(command):
            url = (match.group(1) or match.group(2)).strip("'\"")
            messages.append(_source_or_pin(url, by_arg))
    return [message for message in messages if message]


def _after(pattern: re.Pattern[str], command: str) -> list[str]:
    match = pattern.search(command)
    return _words(command[match.end() :]) if match else []


def _pip_specs(words: list[str]) -> list[tuple[str, str]]:
    specs, skip = [], False
    for word in words:
        if word in ("|", ">", ">>"):
            break
        if skip or word.startswith("-"):
            skip = word in _PIP_VALUED
            continue
        match = _PIP_REQUIREMENT.fullmatch(word)
        if match:
            specs.append((match.group("name"), match.group("version")))
    return specs


def _conda_specs(words: list[str]) -> list[tuple[str, str]]:
    specs, skip = [], False
    for word in words:
        if word in ("|", ">", ">>"):
            break
        if skip or word.startswith("-"):
            skip = word in _CONDA_VALUED
            continue
        match = _CONDA_SPEC.fullmatch(word)
        if match:
            specs.append((match.group("name"), match.group("version")))
    return specs


def _literal_or_pin(tool: str, spec: tuple[str, str], by_arg: dict[str, pins.Pin]) -> str:
    name, version = spec
    kind = _KIND_OF[tool]
    reference = _REFERENCE.search(version)
    if reference is None:
        return (
            f"{tool} installs {name} {version}, a literal version: declare it as a pin ARG "
            f"(`# pin: {kind} {name}; evidence: ...` above `ARG ...={version}`) and use it"
        )
    pin = by_arg.get(reference.group(1))
    if pin is None or pin.kind != kind:
        what = f"a {pin.kind} pin" if pin else "no pin ARG"
        return (
            f"{tool} installs {name} with ${{{reference.group(1)}}}, which is {what}: "
            f"put `# pin: {kind} {name}; evidence: ...` directly above its ARG"
        )
    if _normal(pin.name) != _normal(name):
        return f"{tool} installs {name} with ${{{pin.arg}}}, the pin of {pin.name} ({pin.where})"
    return ""


def _source_or_pin(url: str, by_arg: dict[str, pins.Pin]) -> str:
    reference = _REFERENCE.match(url)
    pin = by_arg.get(reference.group(1)) if reference else None
    if pin is not None and pin.kind == "apt-source":
        return ""
    if reference and pin is None:
        return (
            f"apt source {url} comes from ${{{reference.group(1)}}}, which is no pin ARG: put "
            "`# pin: apt-source NAME; evidence: ...` directly above its ARG"
        )
    return (
        f"apt source {url} is written literally: declare the repository URL as a pin ARG "
        "(`# pin: apt-source NAME; evidence: ...` above `ARG ..._REPO=URL`) and use it"
    )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("::")[-1]).lower()


def _defaults(arguments: str) -> dict[str, str]:
    values = {}
    for word in _words(arguments):
        key, sign, value = word.partition("=")
        if sign:
            values[key] = value
    return values


def _expand(text: str, variables: dict[str, str]) -> str:
    """$NAME and ${NAME} replaced by their values where known."""
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def _words(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars="|><")
        lexer.whitespace_split = True
        lexer.commenters = ""
        return list(lexer)
    except ValueError:  # an unbalanced quote: split on spaces instead
        return text.split()
