"""Pins: reading them, docs/pins.md, `nox -s pins` against real and local services, the
lint check on RUN steps, and the SAS image preflight of `nox -s bake`."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tasks.console import ZoneError
from tasks.docker import sas_image
from tasks.lint import pins as pin_lint
from tasks.pinning import pins, pins_check
from tasks.reports import docs
from tasks.settings import Settings
from tasks.stack import bakefile
from tasks.tests.support import (
    AuthRegistry,
    clean_env,
    commit_all,
    docker_config,
    free_port,
    make_stack,
    run_tasks,
    write,
)

GOOD = """\
# syntax=docker/dockerfile:1
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# pin: pypi sas_kernel; evidence: https://pypi.org/project/sas_kernel/2.4.13/
ARG SAS_KERNEL_VERSION=2.4.13
# pin: url quarto; evidence: the v1.8.27 release page lists this asset
ARG QUARTO_URL=https://example.invalid/v${SAS_KERNEL_VERSION}/quarto.tar.gz
# pin: sha256 QUARTO_URL; evidence: unverified: the checksum file could not be fetched here
ARG QUARTO_SHA256=bdf689b5589789a1f21d89c3b83d78ed02a97914dd702e617294f2cc1ea7387d
RUN pip install --no-cache-dir "sas_kernel==${SAS_KERNEL_VERSION}"
RUN curl -fsSL -o /tmp/q.tgz "${QUARTO_URL}" \\
 && echo "${QUARTO_SHA256}  /tmp/q.tgz" | sha256sum -c -
"""


def problems_of(text: str) -> list[str]:
    return [f"{p.line}: {p.message}" for p in pins.read_dockerfile(text, "Dockerfile")[1]]


# --- reading pins -------------------------------------------------------------------------


def test_pins_carry_kind_name_value_evidence_line_and_uses() -> None:
    found, problems = pins.read_dockerfile(GOOD, "images/x/Dockerfile")
    assert problems == []
    version, url, checksum = found
    assert (version.kind, version.name, version.arg, version.value) == (
        "pypi",
        "sas_kernel",
        "SAS_KERNEL_VERSION",
        "2.4.13",
    )
    assert version.where == "images/x/Dockerfile:5" and version.used == (7, 10)
    assert url.value == "https://example.invalid/v2.4.13/quarto.tar.gz"  # ${ARG} expanded
    assert url.used == (11,) and checksum.used == (12,)
    assert version.verified and url.verified and not checksum.verified


@pytest.mark.parametrize(
    ("change", "expected", "count"),
    [
        # a url pin lost: its sha256 pin then names no url pin, a second problem
        (("url quarto; evidence:", "url quarto evidence"), "6: malformed pin comment", 2),
        (("# pin: pypi", "# pin: pip"), "4: unknown pin kind 'pip': one of pypi, conda", 1),
        (("sha256 QUARTO_URL", "sha256 OTHER_URL"), "9: sha256 pin names OTHER_URL, which is", 2),
        (
            ("unverified: the checksum file could not be fetched here", "unverified:"),
            "8: `unverified:` needs",
            2,
        ),
        (("ARG SAS_KERNEL_VERSION=2.4.13", "ARG SAS_KERNEL_VERSION"), "5: a pin's ARG declares", 1),
        (("ARG QUARTO_URL=", "\nARG QUARTO_URL="), "6: a pin comment must sit directly above", 2),
        (("v${SAS_KERNEL_VERSION}", "v${NOWHERE}"), "7: the pin's value uses ${NOWHERE}: no", 1),
        (("VERSION=2.4.13", "VERSION=latest"), "5: a pypi pin's value is an exact version", 1),
        (('"${QUARTO_SHA256}  /tmp', '"x  /tmp'), "9: pin QUARTO_SHA256 is used nowhere", 1),
    ],
)
def test_each_wrongly_written_pin_is_one_clear_problem(change, expected, count) -> None:
    problems = problems_of(GOOD.replace(*change))
    assert [p for p in problems if p.startswith(expected)], problems
    assert len(problems) == count, problems


def test_a_url_pin_needs_a_sha256_pin() -> None:
    text = GOOD.replace("# pin: sha256 QUARTO_URL; evidence: unverified: the checksum", "# no pin")
    assert problems_of(text) == [
        "7: url pin QUARTO_URL has no sha256 pin: add `# pin: sha256 QUARTO_URL; evidence: ...` "
        "above `ARG ..._SHA256=HEX`"
    ]


def test_bake_file_pins_take_the_variable_and_the_environment(tmp_path: Path) -> None:
    text = (
        "# pin: image example.invalid/datascience-notebook; evidence: the original's tag\n"
        'variable "UPSTREAM_IMAGE" {\n  default = "example.invalid/datascience-notebook:2000-01-01"'
        "\n}\n# pin: image example.invalid/sas4c; evidence: unverified: a private registry\n"
        'variable "SAS_IMAGE" {\n  default = "example.invalid/sas4c:0.0.3"\n}\n'
        'target "base" {\n  context = "images/base"\n'
        '  args = { BASE_IMAGE = "${UPSTREAM_IMAGE}", SAS_IMAGE = "${SAS_IMAGE}" }\n}\n'
    )
    (upstream, sas), problems = pins.read_bakefile(text, "docker-bake.hcl", {})
    assert problems == []
    assert (upstream.arg, upstream.line, upstream.used) == ("UPSTREAM_IMAGE", 2, (11,))
    assert upstream.reference == "example.invalid/datascience-notebook:2000-01-01"
    assert not sas.verified
    (_, sas), _ = pins.read_bakefile(text, "docker-bake.hcl", {"SAS_IMAGE": ""})
    assert sas.value == ""  # set empty on purpose: a build without SAS
    wrong = text.replace('variable "SAS_IMAGE"', '\nvariable "SAS_IMAGE"')
    assert [str(p) for p in pins.read_bakefile(wrong, "docker-bake.hcl", {})[1]] == [
        'docker-bake.hcl:5: a pin comment must sit directly above its `variable "NAME" {` block'
    ]


def test_collect_reads_every_stage_and_refuses_a_pin_bake_overrides(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    write(repo, "images/mid/Dockerfile", GOOD)
    found, problems = pins.collect(repo, repo / "docker-bake.hcl")
    assert problems == []
    assert {p.file for p in found} == {"docker-bake.hcl", "images/mid/Dockerfile"}
    base = "# pin: image busybox; evidence: x\nARG BASE_IMAGE=1\nFROM ${BASE_IMAGE}\n"
    write(repo, "images/base/Dockerfile", base)
    _, problems = pins.collect(repo, repo / "docker-bake.hcl")
    assert [str(p) for p in problems] == [
        "images/base/Dockerfile:2: target 'base' sets BASE_IMAGE in docker-bake.hcl's args, so "
        "this value is not what bake builds: pin it in one place"
    ]


# --- docs/pins.md -------------------------------------------------------------------------


def test_docs_lists_every_pin_with_counts_and_lint_sees_it_go_stale(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    write(repo, "images/mid/Dockerfile", GOOD)
    result = run_tasks(repo, "docs")
    assert result.returncode == 0, result.stderr
    assert "wrote docs/pins.md" in result.stderr
    text = (repo / "docs/pins.md").read_text()
    # GOOD's 3, and the bake file's UPSTREAM_IMAGE (verified) and SAS_IMAGE (unverified)
    assert "**5 pins: 3 verified by public evidence, 2 unverified**" in text
    assert (
        "| pypi | `sas_kernel` | `2.4.13` | `SAS_KERNEL_VERSION`, images/mid/Dockerfile:5 | 7, 10 "
        "| https://pypi.org/project/sas_kernel/2.4.13/ |"
    ) in text
    settings = Settings(root=repo)
    assert pin_lint.check(settings, ["images/mid/Dockerfile"]) == []

    write(repo, "images/mid/Dockerfile", GOOD.replace("2.4.13", "2.4.12"))
    findings = pin_lint.check(settings, ["images/mid/Dockerfile"])
    assert [str(f) for f in findings] == [
        "docs/pins.md:1: stale: does not match the pins in the Dockerfiles and the bake file; "
        "run `nox -s docs`"
    ]


def test_docs_refuses_wrongly_written_pins_and_writes_nothing(tmp_path: Path) -> None:
    repo = make_stack(tmp_path / "stack")
    write(repo, "images/sas/Dockerfile", GOOD.replace("pin: pypi", "pin: pip"))
    result = run_tasks(repo, "docs")
    assert result.returncode == 2
    assert "images/sas/Dockerfile:4: unknown pin kind 'pip'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (repo / "docs").exists()


# --- nox -s pins: the real PyPI -----------------------------------------------------------


def pypi_stack(tmp_path: Path, version: str) -> Path:
    repo = make_stack(tmp_path / "stack")
    text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
    text += "# pin: pypi sas_kernel; evidence: https://pypi.org/project/sas_kernel/\n"
    text += f"ARG SAS_KERNEL_VERSION={version}\n"
    text += 'RUN pip install --no-cache-dir "sas_kernel==${SAS_KERNEL_VERSION}"\n'
    write(repo, "images/sas_kernel/Dockerfile", text)
    return repo


def test_pins_finds_a_real_pypi_release(tmp_path: Path) -> None:
    """The real PyPI (reachable from these machines), through its Simple API."""
    result = run_tasks(pypi_stack(tmp_path, "2.4.13"), "pins", "--kind", "pypi", "--json")
    assert result.returncode == 0, result.stderr
    (pin,) = json.loads(result.stdout)["pins"]
    assert (pin["name"], pin["value"], pin["status"]) == ("sas_kernel", "2.4.13", "ok")
    assert "ok pypi sas_kernel 2.4.13 (images/sas_kernel/Dockerfile:4)" in result.stderr
    assert "all 1 pins resolve" in result.stderr


def test_pins_reports_a_missing_pypi_release_and_fails(tmp_path: Path) -> None:
    """The real PyPI again: 99.99.99 of sas_kernel was never released."""
    result = run_tasks(pypi_stack(tmp_path, "99.99.99"), "pins", "--kind", "pypi", "--json")
    assert result.returncode == 1
    (pin,) = json.loads(result.stdout)["pins"]
    assert pin["status"] == "missing"
    assert "sas_kernel has no release 99.99.99 (latest: " in pin["detail"]
    assert "error: of 1 pins, 1 do not resolve" in result.stderr


# --- nox -s pins: local stand-ins for services these machines cannot reach ----------------

ARCHIVE = b"the release archive\n"
ARCHIVE_SHA = hashlib.sha256(ARCHIVE).hexdigest()


class _Service(http.server.BaseHTTPRequestHandler):
    """anaconda.org's package API, Open VSX's registry API and a download host, each in
    the response format its documentation and public clients show."""

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        routes = {
            # anaconda.org: GET /package/OWNER/NAME -> versions, latest_version, files[]
            "/package/conda-forge/jupyterlab": {
                "name": "jupyterlab",
                "latest_version": "4.2.5",
                "versions": ["4.1.8", "4.2.0", "4.2.5", "4.3.0"],
                "files": [
                    {"version": v, "attrs": {"subdir": "noarch"}, "labels": ["main"]}
                    for v in ("4.1.8", "4.2.0", "4.2.5")
                ]
                + [{"version": "4.3.0", "attrs": {"subdir": "noarch"}, "labels": ["broken"]}],
            },
            # Open VSX: GET /api/NAMESPACE/EXTENSION/VERSION -> the extension's metadata
            "/api/quarto/quarto/1.114.0": {
                "namespace": "quarto",
                "name": "quarto",
                "version": "1.114.0",
                "files": {"download": "http://127.0.0.1/quarto-1.114.0.vsix"},
            },
        }
        if self.path in routes:
            return self._send(200, json.dumps(routes[self.path]).encode(), body)
        if self.path.startswith(("/package/", "/api/")):  # both answer 404 with an error
            return self._send(404, json.dumps({"error": "not found"}).encode(), body)
        if self.path == "/download/v1/tool.tar.gz":  # a release host redirects to storage
            self.send_response(302)
            self.send_header("Location", "/storage/tool.tar.gz")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if self.path in ("/storage/tool.tar.gz", "/plain/tool.tar.gz"):
            return self._send(200, ARCHIVE, body)
        if self.path == "/storage/tool.tar.gz.sha256":  # the release's published checksum
            return self._send(200, f"{ARCHIVE_SHA}  tool.tar.gz\n".encode(), body)
        if self.path == "/download/v1/tool.tar.gz.sha256":
            self.send_response(302)
            self.send_header("Location", "/storage/tool.tar.gz.sha256")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if self.path == "/apt/":
            return self._send(200, b"<html>dists/ pool/</html>", body)
        return self._send(404, b"not found", body)

    def _send(self, code: int, payload: bytes, body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pin(kind: str, name: str, value: str, arg: str = "X") -> pins.Pin:
    return pins.Pin(kind, name, arg, value, "test", "images/x/Dockerfile", 1, ())


def answers(service: str, *chosen: pins.Pin, every: tuple[pins.Pin, ...] = ()) -> list[tuple]:
    services = pins_check.Services(pypi=service, anaconda=service, openvsx=service, timeout=5)
    outcomes = pins_check.check_all(list(chosen), [*chosen, *every], services)
    return [(o.status, o.detail) for o in outcomes]


def test_conda_versions_from_anaconda_org(service: str) -> None:
    """anaconda.org is out of reach here: a local server answers in its API's format."""
    result = answers(
        service,
        pin("conda", "jupyterlab", "4.2"),
        pin("conda", "jupyterlab", "4.2.*"),
        pin("conda", "jupyterlab", "4.3.0"),  # only under the `broken` label
        pin("conda", "no-such-package", "1.0"),
    )
    assert result == [
        ("ok", "conda-forge has jupyterlab 4.2.0 ... 4.2.5 for linux-64"),
        ("ok", "conda-forge has jupyterlab 4.2.0 ... 4.2.5 for linux-64"),
        ("missing", "conda-forge has no jupyterlab 4.3.0 for linux-64 (latest: 4.2.5)"),
        ("missing", "conda-forge has no package no-such-package"),
    ]


def test_openvsx_versions(service: str) -> None:
    """open-vsx.org is out of reach here: a local server answers in its API's format."""
    assert answers(
        service, pin("openvsx", "quarto.quarto", "1.114.0"), pin("openvsx", "quarto.quarto", "0.1")
    ) == [
        ("ok", "quarto.quarto 1.114.0 is on Open VSX"),
        ("missing", "Open VSX has no quarto.quarto 0.1"),
    ]


def test_downloads_follow_redirects_and_meet_published_checksums(service: str) -> None:
    """Download hosts are out of reach here: a local server redirects and serves as they do."""
    url = pin("url", "tool", f"{service}/download/v1/tool.tar.gz", arg="TOOL_URL")
    plain = pin("url", "plain", f"{service}/plain/tool.tar.gz", arg="PLAIN_URL")
    gone = pin("url", "gone", f"{service}/download/v0/tool.tar.gz", arg="GONE_URL")
    right = pin("sha256", "TOOL_URL", ARCHIVE_SHA, arg="TOOL_SHA256")
    wrong = pin("sha256", "TOOL_URL", "0" * 64, arg="TOOL_SHA256")
    unpublished = pin("sha256", "PLAIN_URL", ARCHIVE_SHA, arg="PLAIN_SHA256")
    host = service.removeprefix("http://")
    assert answers(service, url, gone, right, wrong, unpublished, every=(plain,)) == [
        ("ok", f"HTTP 200 (at {host})"),
        ("missing", f"HTTP 404: {host} has no such file"),
        ("ok", "matches tool.tar.gz.sha256"),
        ("wrong", f"{url.value}.sha256 says {ARCHIVE_SHA}, the pin says {'0' * 64}"),
        ("skipped", f"no checksum published at {host} (URL.sha256)"),
    ]
    assert answers(service, pin("apt-source", "repo", f"{service}/apt/")) == [
        ("ok", "the repository answers (HTTP 200)")
    ]


def test_a_service_that_cannot_be_reached_is_not_a_missing_pin(service: str) -> None:
    """Nothing listens on a fresh loopback port: "could not ask", never "missing"."""
    closed = f"http://127.0.0.1:{free_port()}"
    outcomes = answers(closed, pin("conda", "jupyterlab", "4.2"), pin("url", "x", f"{closed}/f"))
    assert [status for status, _ in outcomes] == ["could not ask", "could not ask"]
    assert all("cannot reach 127.0.0.1:" in detail for _, detail in outcomes)


def test_pins_command_uses_the_services_from_the_environment(tmp_path: Path, service: str):
    """The whole command, with anaconda.org's stand-in named by ZONE_ANACONDA_API_URL."""
    repo = make_stack(tmp_path / "stack")
    text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n# pin: conda jupyterlab; evidence: feedstock\n"
    text += "ARG JUPYTERLAB_VERSION=4.9\nRUN mamba install -y 'jupyterlab=${JUPYTERLAB_VERSION}'\n"
    write(repo, "images/mid/Dockerfile", text)
    env = clean_env(ZONE_ANACONDA_API_URL=service)
    result = run_tasks(repo, "pins", "--kind", "conda", env=env)
    assert result.returncode == 1
    assert "missing conda jupyterlab 4.9 (images/mid/Dockerfile:4)" in result.stderr
    assert "1 pins, 1 verified by evidence: 0 ok, 1 missing" in result.stderr
    result = run_tasks(repo, "pins", "--kind", "condaa", env=env)
    assert result.returncode == 2 and "unknown pin kind condaa" in result.stderr


# --- image pins and the SAS preflight: the real local registry ----------------------------


@pytest.fixture(scope="module")
def sas_in_registry(engine: docker.DockerClient, registry: str, upstream: str) -> str:
    """A stand-in SAS installation image, pushed to the test registry."""
    repository = f"{registry}/sas4c"
    engine.images.get(upstream).tag(repository, "0.0.3")
    for line in engine.images.push(repository, tag="0.0.3", stream=True, decode=True):
        assert "error" not in line, line
    return f"{repository}:0.0.3"


def test_image_pins_are_looked_up_in_their_registry(sas_in_registry: str) -> None:
    repository, tag = sas_in_registry.rsplit(":", 1)
    outcomes = answers(
        "http://unused", pin("image", repository, tag), pin("image", repository, "9")
    )
    assert outcomes[0][0] == "ok" and "sha256:" in outcomes[0][1]
    assert outcomes[1] == ("missing", f"the registry has no {repository}:9")
    assert answers("http://unused", pin("image", repository, "")) == [
        ("skipped", "X is set empty: the build goes without it")
    ]


def test_a_registry_that_refuses_us_is_asked_to_log_in(
    sas_stack: Path, auth_registry: AuthRegistry, tmp_path: Path, monkeypatch
) -> None:
    """A real registry that wants a login, and a docker config without one."""
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "no-login", {})))
    image = f"{auth_registry.host}/sas4c:0.0.3"
    ((status, detail),) = answers(
        "http://unused", pin("image", f"{auth_registry.host}/sas4c", "0.0.3")
    )
    assert status == "could not ask"
    assert f"the registry {auth_registry.host} refused access" in detail
    assert f"docker login {auth_registry.host}" in detail
    graph = bakefile.load(sas_stack / "docker-bake.hcl", environ={"SAS_IMAGE": image})
    with pytest.raises(ZoneError) as refused:
        sas_image.preflight(Settings(root=sas_stack), graph, ["base", "mid", "sas-kernel"])
    assert refused.value.message.startswith(
        f"sas-kernel copies SAS from {image}, which this machine cannot pull: "
        f"the registry {auth_registry.host} refused access"
    )
    assert refused.value.hint.startswith("set SAS_IMAGE=<tag or digest> (it is a bake variable)")
    assert refused.value.exit_code == 2


SAS_KERNEL = """\
ARG BASE_IMAGE
ARG SAS_IMAGE
FROM ${SAS_IMAGE} AS sas
FROM ${BASE_IMAGE}
COPY --from=sas /etc/passwd /stages/sas-installation
COPY stage.txt /stages/sas_kernel.txt
RUN cat /stages/*.txt > /stages/chain
"""


@pytest.fixture
def sas_stack(tmp_path: Path) -> Path:
    repo = make_stack(tmp_path / "stack")
    write(repo, "images/sas_kernel/Dockerfile", SAS_KERNEL)
    commit_all(repo, "sas-kernel copies from SAS_IMAGE")
    return repo


def test_bake_builds_when_the_sas_image_is_there(
    engine: docker.DockerClient, registry: str, upstream: str, sas_stack: Path, sas_in_registry
) -> None:
    env = clean_env(UPSTREAM_IMAGE=upstream, SAS_IMAGE=sas_in_registry)
    result = run_tasks(sas_stack, "bake", "sas-kernel", "--repo", registry, env=env)
    assert result.returncode == 0, result.stderr
    copied = engine.containers.run(
        f"{registry}/sas-kernel:master", ["cat", "/stages/sas-installation"], remove=True
    )
    assert b"root:" in copied  # the SAS stand-in's /etc/passwd, copied in by the build


def test_bake_without_access_to_the_sas_image_says_what_to_set(
    engine: docker.DockerClient, registry: str, upstream: str, sas_stack: Path, sas_in_registry
) -> None:
    missing = sas_in_registry.replace(":0.0.3", ":9.9.9")
    env = clean_env(UPSTREAM_IMAGE=upstream, SAS_IMAGE=missing)
    repo_prefix = f"{registry}/nosas"
    result = run_tasks(sas_stack, "bake", "sas-kernel", "--repo", repo_prefix, env=env)
    assert result.returncode == 2
    assert (
        f"error: sas-kernel copies SAS from {missing}, which this machine cannot pull: "
        "its registry has no such image"
    ) in result.stderr
    assert (
        "set SAS_IMAGE=<tag or digest> (it is a bake variable) or SAS_IMAGE= to build without SAS"
    ) in result.stderr
    assert "building" not in result.stderr
    with pytest.raises(docker.errors.ImageNotFound):  # nothing built, not even the parents
        engine.images.get(f"{repo_prefix}/base:master")


def test_bake_print_and_an_empty_sas_image_ask_no_registry(
    registry: str, upstream: str, sas_stack: Path
) -> None:
    unreachable = f"127.0.0.1:{free_port()}/sas4c:0.0.3"
    env = clean_env(UPSTREAM_IMAGE=upstream, SAS_IMAGE=unreachable)
    printed = run_tasks(sas_stack, "bake", "sas-kernel", "--print", "--repo", registry, env=env)
    assert printed.returncode == 0, printed.stderr  # --print builds nothing, so asks nothing
    assert json.loads(printed.stdout)["target"]["sas-kernel"]["args"]["SAS_IMAGE"] == unreachable
    for image in ("", unreachable):  # empty: a build without SAS; stand-ins that pull none
        graph = bakefile.load(sas_stack / "docker-bake.hcl", environ={"SAS_IMAGE": image})
        if image:
            write(sas_stack, "images/sas_kernel/Dockerfile", "FROM ${BASE_IMAGE}\n")
        assert sas_image.preflight(Settings(root=sas_stack), graph, ["sas-kernel"]) is None


# --- lint: downloads checked, versions from pins ------------------------------------------


def lint(run: str, pins_text: str = "") -> list[str]:
    """Findings for a RUN (pins declared but unused by this one RUN are not its business)."""
    text = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n" + pins_text + run
    found = [message for _, message in pin_lint.check_text(text)]
    return [message for message in found if not message.endswith("is used nowhere in this file")]


def test_the_good_example_passes_lint() -> None:
    assert pin_lint.check_text(GOOD) == []


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (
            "RUN curl -fsSL -o /tmp/a.deb https://example.invalid/a.deb && dpkg -i /tmp/a.deb\n",
            "curl downloads /tmp/a.deb without a checksum: verify it in this RUN",
        ),
        (
            "RUN curl -fsSL https://example.invalid/key.asc | gpg --dearmor -o /k.gpg\n",
            "curl streams a download into another command unchecked",
        ),
        ("RUN wget -q https://example.invalid/x.tgz\n", "wget downloads x.tgz without a checksum"),
        ("ADD https://example.invalid/x.tgz /x.tgz\n", "ADD of a URL without --checksum"),
        (
            "RUN pip install --no-cache-dir 'saspy==5.110.0'\n",
            "pip installs saspy 5.110.0, a literal version: declare it as a pin ARG "
            "(`# pin: pypi saspy; evidence: ...` above `ARG ...=5.110.0`) and use it",
        ),
        (
            "RUN mamba install --yes -c conda-forge 'jupyterlab=4.2' && mamba clean -afy\n",
            "conda installs jupyterlab 4.2, a literal version: declare it as a pin ARG",
        ),
        (
            'RUN echo "deb [arch=amd64] https://packages.example.invalid/repos/x/ jammy main" '
            "> /etc/apt/sources.list.d/x.list\n",
            "apt source https://packages.example.invalid/repos/x/ is written literally",
        ),
    ],
)
def test_lint_catches_each_unchecked_download_and_literal_version(run: str, expected: str):
    assert [m for m in lint(run) if m.startswith(expected)], lint(run)


def test_lint_takes_versions_and_sources_from_pins_of_the_right_kind_and_name() -> None:
    pinned = (
        "# pin: conda jupyterlab; evidence: the feedstock's 4.2.5 recipe\n"
        "ARG JUPYTERLAB_VERSION=4.2\n"
        "# pin: apt-source azure-cli; evidence: Microsoft's install docs\n"
        "ARG AZURE_CLI_REPO=https://packages.microsoft.com/repos/azure-cli/\n"
        "ARG PLAIN_VERSION=1.0\n"
    )
    good = (
        'RUN mamba install --yes "jupyterlab=${JUPYTERLAB_VERSION}" && mamba clean -afy '
        '&& echo "deb [arch=amd64] ${AZURE_CLI_REPO} jammy main" > /etc/apt/x.list '
        "&& apt-get install -y curl wget\n"  # curl as a package name downloads nothing
    )
    assert lint(good, pinned) == []
    assert lint("RUN pip install 'jupyterlab==${JUPYTERLAB_VERSION}'\n", pinned) == [
        "pip installs jupyterlab with ${JUPYTERLAB_VERSION}, which is a conda pin: put "
        "`# pin: pypi jupyterlab; evidence: ...` directly above its ARG"
    ]
    assert lint("RUN mamba install 'lab=${JUPYTERLAB_VERSION}'\n", pinned) == [
        "conda installs lab with ${JUPYTERLAB_VERSION}, the pin of jupyterlab (Dockerfile:4)"
    ]
    assert lint("RUN pip install 'x==${PLAIN_VERSION}'\n", pinned)[0].startswith(
        "pip installs x with ${PLAIN_VERSION}, which is no pin ARG"
    )


def test_lint_reports_wrongly_written_pins_of_any_dockerfile() -> None:
    findings = pin_lint.check_text(GOOD.replace("pin: pypi", "pin: pip"))
    assert (4, "unknown pin kind 'pip': one of pypi, conda, url, sha256, fingerprint, image, "
            "apt-source, openvsx") in findings  # fmt: skip
    # the ARG it meant to pin is now no pin, so the pip line that uses it is a finding too
    assert any(line == 10 and "which is no pin ARG" in message for line, message in findings)


def test_the_repository_pins_doc_is_current() -> None:
    from tasks.tests.support import PROJECT

    assert docs.pins_stale(PROJECT, PROJECT / "docker-bake.hcl") is None


# --- signing keys: checked by fingerprint ------------------------------------------------

KEYED = """\
FROM example.invalid/base:1
# pin: url signing-key; evidence: the vendor's repository docs
ARG KEY_URL=https://example.invalid/keys/vendor.asc
# pin: fingerprint KEY_URL; evidence: the vendor's docs give it
ARG KEY_FINGERPRINT=BC528686B50D79E339D3721CEB3E94ADBE1229CF
RUN curl -fsSL "${KEY_URL}" | gpg --dearmor -o /usr/share/keyrings/vendor.gpg \\
 && gpg --show-keys --with-colons /usr/share/keyrings/vendor.gpg \\
      | awk -F: '$1 == "fpr" { print $10 }' | grep -qx "${KEY_FINGERPRINT}"
"""


def test_a_signing_key_is_verified_by_its_fingerprint_pin() -> None:
    assert problems_of(KEYED) == []
    assert pin_lint.check_text(KEYED) == []
    unchecked = KEYED.replace(' | grep -qx "${KEY_FINGERPRINT}"', "")
    assert [m for _, m in pin_lint.check_text(unchecked) if "streams a download" in m]


def _key(folder: Path) -> tuple[bytes, str]:
    """A real OpenPGP public key made here with gpg, and its fingerprint."""
    env = {"GNUPGHOME": str(folder), "PATH": "/usr/bin:/bin"}
    folder.mkdir(mode=0o700)
    made = ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "zone test <t@x.invalid>"]
    try:
        subprocess.run(made, env=env, check=True, capture_output=True)
        armored = subprocess.run(
            ["gpg", "--armor", "--export"], env=env, check=True, capture_output=True
        ).stdout
        listing = subprocess.run(
            ["gpg", "--with-colons", "--list-keys"], env=env, check=True, capture_output=True
        ).stdout.decode()
    finally:  # gpg started an agent for this GNUPGHOME: leave nothing running
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    return armored, fingerprint


def test_pins_reads_the_fingerprint_of_the_key_a_url_serves(tmp_path: Path) -> None:
    """The vendor's key host is out of reach here: a local server serves a key made here."""
    armored, fingerprint = _key(tmp_path / "gnupg")

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(armored)))
            self.end_headers()
            self.wfile.write(armored)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = pin("url", "key", f"http://127.0.0.1:{server.server_address[1]}/k.asc", "K_URL")
        right = pin("fingerprint", "K_URL", fingerprint, arg="K_FINGERPRINT")
        wrong = pin("fingerprint", "K_URL", "A" * 40, arg="K_FINGERPRINT")
        result = answers("http://127.0.0.1:1", right, wrong, every=(url,))
    finally:
        server.shutdown()
        server.server_close()
    assert result[0] == ("ok", f"k.asc holds the key {fingerprint[-16:]}")
    assert result[1][0] == "wrong"
    assert fingerprint in result[1][1]
