"""Bad input and broken surroundings: one clear message, a non-zero exit, no traceback."""

from __future__ import annotations

import http.server
import json
import shutil
import socketserver
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.tests.support import clean_env, run_nox, run_tasks, without_buildx

USAGE = 2


def assert_one_clear_error(result, *fragments: str, code: int = USAGE) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.count("error:") == 1, result.stderr
    for fragment in fragments:
        assert fragment in " ".join(result.stderr.split()), result.stderr
    assert result.stdout == ""


def test_unknown_image(stack: Path) -> None:
    result = run_tasks(stack, "bake", "jupyterlabb")
    assert_one_clear_error(
        result,
        "unknown image 'jupyterlabb'; did you mean 'jupyterlab-cpu'?",
        "known images: base, mid, sas-kernel, jupyterlab-cpu, sas",
    )


def test_unknown_image_through_nox(tmp_path: Path, nox_envdir: Path) -> None:
    from tasks.tests.support import make_stack

    repo = make_stack(tmp_path / "with-runner", with_runner=True)
    result = run_nox(repo, nox_envdir, "bake", "sass")
    assert result.returncode != 0
    assert "unknown image 'sass'; did you mean 'sas'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option(stack: Path) -> None:
    assert_one_clear_error(run_tasks(stack, "plan", "--jsn"), "unrecognized arguments: --jsn")


def test_malformed_bake_file_names_file_and_line(stack: Path) -> None:
    path = stack / "docker-bake.hcl"
    path.write_text(path.read_text().replace('context  = "images/mid"', 'context  = "images/mid'))
    result = run_tasks(stack, "plan")
    assert_one_clear_error(result, "docker-bake.hcl:", "not valid HCL")


def test_unsupported_bake_construct(stack: Path) -> None:
    with (stack / "docker-bake.hcl").open("a") as handle:
        handle.write('\ntarget "extra" {\n  tags = [lower("X")]\n}\n')
    result = run_tasks(stack, "plan")
    line = (stack / "docker-bake.hcl").read_text().splitlines().index('target "extra" {') + 1
    assert_one_clear_error(result, f"docker-bake.hcl:{line}: cannot resolve expression")


def test_cycle_between_stages(stack: Path) -> None:
    path = stack / "docker-bake.hcl"
    text = path.read_text().replace(
        'target "base" {\n  context = "images/base"',
        'target "base" {\n  context = "images/base"\n  contexts = { sas = "target:sas" }',
    )
    path.write_text(text)
    result = run_tasks(stack, "plan")
    assert_one_clear_error(result, "cycle between stages:", "base -> mid -> sas-kernel -> sas")


def test_missing_bake_file(tmp_path: Path) -> None:
    result = run_tasks(tmp_path, "plan")
    assert_one_clear_error(result, "no bake file at")


def test_explicit_base_must_resolve(stack: Path) -> None:
    result = run_tasks(stack, "plan", "--base", "origin/nope")
    assert_one_clear_error(result, "--base 'origin/nope' does not name a commit")


def test_engine_unreachable(stack: Path, tmp_path: Path) -> None:
    socket_path = tmp_path / "no-engine.sock"
    env = clean_env(DOCKER_HOST=f"unix://{socket_path}")
    result = run_tasks(stack, "bake", "sas", env=env)
    assert_one_clear_error(
        result, f"cannot reach the Docker engine at unix://{socket_path}", "dockerd is running"
    )


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    folder = tmp_path / "docker-config"
    (folder / "cli-plugins").mkdir(parents=True)
    return folder


def test_buildx_missing(stack: Path, tmp_path: Path) -> None:
    # The real docker CLI, with `buildx` refused in front of it (without_buildx): emptying
    # DOCKER_CONFIG would hide only a per-user plugin, not a system-wide one.
    env = without_buildx(tmp_path / "bin")
    assert subprocess.run(["docker", "buildx", "version"], env=env, capture_output=True).returncode
    result = run_tasks(stack, "bake", "sas", env=env)
    assert_one_clear_error(result, "docker buildx is not installed", "0.10 or newer")


def test_buildx_too_old(stack: Path, docker_config: Path) -> None:
    # A stand-in plugin that reports buildx 0.7: no old buildx can be installed here. In
    # DOCKER_CONFIG/cli-plugins it comes first, before any system-wide buildx.
    plugin = docker_config / "cli-plugins" / "docker-buildx"
    plugin.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = docker-cli-plugin-metadata ]; then\n'
        '  echo \'{"SchemaVersion":"0.1.0","Vendor":"test","Version":"v0.7.1"}\'; exit 0\n'
        "fi\n"
        "echo 'github.com/docker/buildx v0.7.1 05846896d149da05f3d6fd1e7770da187b52a247'\n"
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
    result = run_tasks(stack, "bake", "sas", env=clean_env(DOCKER_CONFIG=str(docker_config)))
    assert_one_clear_error(result, "docker buildx 0.7.1 is too old", "0.10 or newer")


class _OldEngine(http.server.BaseHTTPRequestHandler):
    """Answers like Docker Engine 20.10 (API 1.41) to ping and version."""

    def do_GET(self) -> None:
        body = b"OK"
        if self.path.endswith("/version"):
            body = json.dumps({"Version": "20.10.24", "ApiVersion": "1.41"}).encode()
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def address_string(self) -> str:
        return "test"

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def old_engine(tmp_path: Path) -> Iterator[str]:
    # A fake engine: an old Docker Engine cannot be installed and started beside ours here.
    socket_path = str(tmp_path / "old.sock")
    server = socketserver.ThreadingUnixStreamServer(socket_path, _OldEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"unix://{socket_path}"
    server.shutdown()
    server.server_close()


def test_engine_too_old_for_named_contexts(stack: Path, old_engine: str) -> None:
    result = run_tasks(stack, "bake", "sas", env=clean_env(DOCKER_HOST=old_engine))
    assert_one_clear_error(result, "Docker Engine 20.10.24 is too old", "Docker Engine 23 or newer")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--extra-tag=-bad"], "--extra-tag '-bad' is not a valid image tag"),
        (["--extra-tag", "a/b"], "--extra-tag 'a/b' is not a valid image tag"),
        (["--tag", "a/b"], "--tag 'a/b' is not a valid image tag"),  # the old spelling
        (
            ["--repo", "Example.org/Team"],
            "--repo must be a registry/namespace prefix, not 'Example.org/Team'",
        ),
    ],
)
def test_bad_tags_and_repos(stack: Path, flags: list[str], message: str) -> None:
    assert_one_clear_error(run_tasks(stack, "bake", "sas", "--print", *flags), message)


@pytest.mark.parametrize("command", ["test", "dev"])
def test_bad_repo_for_test_and_dev(stack: Path, command: str) -> None:
    result = run_tasks(stack, command, "sas", "--repo", "Zone")
    assert_one_clear_error(result, "--repo must be a registry/namespace prefix, not 'Zone'")


def test_base_outside_a_git_repository(stack: Path) -> None:
    shutil.rmtree(stack / ".git")
    assert_one_clear_error(
        run_tasks(stack, "plan", "--base", "master"), "--base 'master' needs a git repository"
    )


def test_unreadable_bake_file(stack: Path) -> None:
    env = clean_env(ZONE_BAKE_FILE="images")
    assert_one_clear_error(run_tasks(stack, "plan", env=env), "cannot read the bake file")


def test_unwritable_github_output(stack: Path, tmp_path: Path) -> None:
    env = clean_env(GITHUB_OUTPUT=str(tmp_path / "no-such-folder" / "out"))
    result = run_tasks(stack, "plan", "--github-output", env=env)
    assert_one_clear_error(result, "cannot write to GITHUB_OUTPUT", code=1)


def test_raw_flags_only_for_bake(stack: Path) -> None:
    assert_one_clear_error(run_tasks(stack, "plan", "--", "--x"), "plan takes no raw flags")


def test_environment_overrides_settings(stack: Path) -> None:
    env = clean_env(ZONE_REGISTRY="example.org/team", ZONE_RELEASE_BRANCH="trunk")
    result = run_tasks(stack, "plan", "--json", env=env)
    document = json.loads(result.stdout)
    assert document["stages"][0]["tags"][0] == "example.org/team/base:master"
    assert not any(t.endswith(":latest") for t in document["stages"][0]["tags"])
    flag = run_tasks(stack, "plan", "--json", "--repo", "flag.example/x", env=env)
    assert json.loads(flag.stdout)["stages"][0]["tags"][0] == "flag.example/x/base:master"


def test_bad_setting_in_pyproject(stack: Path) -> None:
    (stack / "pyproject.toml").write_text("[tool.zone]\nregistyr = 'x'\n")
    assert_one_clear_error(run_tasks(stack, "plan"), "unknown setting [tool.zone] 'registyr'")
