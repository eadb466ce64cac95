"""The images' start-up scripts, run for real in a Debian container.

The scripts under images/ are copied into a container of zone-fixture/debian:bookworm
(bash, coreutils, findutils, util-linux) and run with bash, as s6 would run them,
apart from s6's with-contenv wrapper (it only passes the container's environment on).
Every container is labelled io.zone.test=1 and removed, whatever the outcome.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from tasks.tests import jupyter_stack
from tasks.tests.conftest import PROJECT, provisioned

DEBIAN = jupyter_stack.DEBIAN
LABELS = {"io.zone.test": "1", "io.zone.test.suite": "image-scripts"}
COPY_HOME = PROJECT / "images/base/s6/cont-init.d/01-copy-tmp-home"
START_CUSTOM = PROJECT / "images/mid/s6/cont-init.d/02-start-custom"
JUPYTER_RUN = PROJECT / "images/mid/s6/services.d/jupyter/run"

# Run a script as the notebook user (uid 1000, group users), the way the image runs.
AS_JOVYAN = "setpriv --reuid=1000 --regid=100 --clear-groups env HOME=/home/jovyan"
SETUP_USER = "useradd --uid 1000 --gid 100 --no-create-home --home-dir /home/jovyan jovyan"


@dataclass
class Outcome:
    exit_code: int
    output: str


@pytest.fixture(scope="module")
def debian(engine: docker.DockerClient) -> str:
    return provisioned(engine, DEBIAN)


def scripts_tar(scripts: dict[str, Path]) -> bytes:
    """A tar of the real scripts, placed at /scripts/<name> in the container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, path in scripts.items():
            info = tarfile.TarInfo(f"scripts/{name}")
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run(
    engine: docker.DockerClient,
    image: str,
    command: str,
    scripts: dict[str, Path],
    environment: dict[str, str] | None = None,
    tmpfs: dict[str, str] | None = None,
    user: str | None = None,
) -> Outcome:
    """Run `command` with bash in a fresh container holding `scripts`; always remove it."""
    container = engine.containers.create(
        image,
        ["bash", "-euo", "pipefail", "-c", command],
        environment=environment or {},
        tmpfs=tmpfs or {},
        user=user,
        labels=LABELS,
        name=f"zone-test-scripts-{uuid.uuid4().hex[:8]}",
        network_disabled=True,
    )
    try:
        container.put_archive("/", scripts_tar(scripts))
        container.start()
        result = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=True).decode()
        return Outcome(result["StatusCode"], output)
    finally:
        container.remove(force=True)


# --- 01-copy-tmp-home ----------------------------------------------------------------

STAGE_HOME = (
    "mkdir -p /tmp_home/jovyan/.config/saspy /tmp_home/jovyan/.local/share/code-server; "
    "echo image-rprofile > /tmp_home/jovyan/.Rprofile; "
    "echo image-saspy > /tmp_home/jovyan/.config/saspy/sascfg_personal.py; "
    "echo extension > /tmp_home/jovyan/.local/share/code-server/ext.txt; "
    # As fix-permissions leaves the staging home at build time: the user's, group-writable.
    "chown -R 1000:100 /tmp_home; chmod -R g+w /tmp_home; "
)


def test_copy_home_fills_an_empty_home(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + STAGE_HOME + "mkdir -p /home/jovyan; chown 1000:100 /home/jovyan; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        "cat /home/jovyan/.Rprofile /home/jovyan/.config/saspy/sascfg_personal.py "
        "/home/jovyan/.local/share/code-server/ext.txt; "
        "stat -c '%u %a %n' /home/jovyan/.Rprofile /home/jovyan/.config",
        {"01-copy-tmp-home": COPY_HOME},
        environment={"NB_USER": "jovyan", "HOME_TMP": "/tmp_home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "copied 3 file(s)" in outcome.output
    assert "image-rprofile\nimage-saspy\nextension\n" in outcome.output
    # Owned by the user, modes kept; umask 0002 makes new folders group-writable.
    assert "1000 664 /home/jovyan/.Rprofile" in outcome.output
    assert "1000 775 /home/jovyan/.config" in outcome.output


def test_copy_home_never_overwrites_a_users_file(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + STAGE_HOME + "mkdir -p /home/jovyan/.config/saspy; "
        "echo my-rprofile > /home/jovyan/.Rprofile; "
        "echo my-saspy > /home/jovyan/.config/saspy/sascfg_personal.py; "
        "chown -R 1000:100 /home/jovyan; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        # A second start (every restart runs it) changes nothing either.
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        "cat /home/jovyan/.Rprofile /home/jovyan/.config/saspy/sascfg_personal.py "
        "/home/jovyan/.local/share/code-server/ext.txt",
        {"01-copy-tmp-home": COPY_HOME},
        environment={"NB_USER": "jovyan", "HOME_TMP": "/tmp_home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "my-rprofile\nmy-saspy\nextension\n" in outcome.output
    assert "copied 1 file(s) from /tmp_home/jovyan into /home/jovyan, kept 2" in outcome.output
    assert "copied 0 file(s) from /tmp_home/jovyan into /home/jovyan, kept 3" in outcome.output


def test_copy_home_goes_on_past_an_entry_it_cannot_copy(engine, debian) -> None:
    # The user has a FILE where the staging home has the folder .config: that entry is
    # skipped with a message, everything else still arrives, and the script succeeds
    # (s6 would stop the container on a failing start-up script).
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + STAGE_HOME + "mkdir -p /home/jovyan; "
        "echo my-file > /home/jovyan/.config; chown -R 1000:100 /home/jovyan; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; echo exit=$?; "
        "cat /home/jovyan/.config /home/jovyan/.Rprofile "
        "/home/jovyan/.local/share/code-server/ext.txt",
        {"01-copy-tmp-home": COPY_HOME},
        environment={"NB_USER": "jovyan", "HOME_TMP": "/tmp_home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "exit=0" in outcome.output
    assert "cannot make folder /home/jovyan/.config" in outcome.output
    assert "my-file\nimage-rprofile\nextension\n" in outcome.output
    assert "copied 2 file(s)" in outcome.output


@pytest.mark.parametrize(("size", "copies"), [("1m", False), ("16m", True)])
def test_copy_home_skips_cleanly_when_the_volume_lacks_room(
    engine, debian, size: str, copies: bool
) -> None:
    # A real small volume: a 1 MiB tmpfs home cannot take 4 MiB of staging; 16 MiB can.
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + STAGE_HOME + "head -c 4194304 /dev/zero > /tmp_home/jovyan/big.bin; "
        "chown 1000:100 /tmp_home/jovyan/big.bin; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        "echo files: $(find /home/jovyan -type f | sort | tr '\\n' ' ')",
        {"01-copy-tmp-home": COPY_HOME},
        environment={"NB_USER": "jovyan", "HOME_TMP": "/tmp_home/jovyan"},
        tmpfs={"/home/jovyan": f"size={size},uid=1000,gid=100"},
    )
    assert outcome.exit_code == 0, outcome.output
    if copies:
        assert "copied 4 file(s)" in outcome.output
        assert "/home/jovyan/big.bin" in outcome.output
    else:
        assert "01-copy-tmp-home: skipped, /home/jovyan has 1024 KiB free" in outcome.output
        # Nothing half-copied: the home is left exactly as it was (empty).
        assert "files: \n" in outcome.output or outcome.output.rstrip().endswith("files:")


def test_copy_home_without_a_staging_folder_is_a_no_op(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        "mkdir -p /home/jovyan; bash /scripts/01-copy-tmp-home; ls -A /home/jovyan | wc -l",
        {"01-copy-tmp-home": COPY_HOME},
        environment={"NB_USER": "jovyan", "HOME": "/home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "no staging folder /tmp_home/jovyan; nothing to copy" in outcome.output
    assert outcome.output.rstrip().endswith("0")


# --- 02-start-custom -----------------------------------------------------------------

SHOW_ENV = 'for f in /run/s6-env/*; do echo "$(basename $f)=$(cat $f)"; done'


def env_lines(output: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {key: value for key, value in pairs if key.isupper()}


def test_start_custom_derives_settings_from_nb_prefix(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        f"mkdir -p /home/jovyan; bash /scripts/02-start-custom; {SHOW_ENV}; "
        "cat /home/jovyan/.jupyter/lab/user-settings/@jupyterlab/translation-extension/"
        "plugin.jupyterlab-settings",
        {"02-start-custom": START_CUSTOM},
        environment={
            "NB_PREFIX": "/notebook/data-team/analysis-01",
            "KF_LANG": "fr",
            "HOME": "/home/jovyan",
        },
    )
    assert outcome.exit_code == 0, outcome.output
    env = env_lines(outcome.output)
    assert env["NB_NAMESPACE"] == "data-team"
    assert env["NB_NAME"] == "analysis-01"
    assert env["NB_PREFIX"] == "/notebook/data-team/analysis-01"
    assert env["LANG"] == env["LC_ALL"] == "fr_CA.UTF-8"
    assert '"locale": "fr_FR"' in outcome.output


def test_start_custom_defaults_for_local_runs(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        f"mkdir -p /home/jovyan; bash /scripts/02-start-custom; {SHOW_ENV}",
        {"02-start-custom": START_CUSTOM},
        environment={"HOME": "/home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    env = env_lines(outcome.output)
    assert env["NB_NAMESPACE"] == "username"
    assert env["NB_NAME"] == "notebookname"
    assert "LANG" not in env  # no KF_LANG: the image's language stays


def test_start_custom_serves_another_prefix_without_namespace(engine, debian) -> None:
    # A local run may use any prefix: the server must still start (s6 stops the
    # container when a cont-init script fails), only the Kubeflow names are left out.
    outcome = run(
        engine,
        debian,
        "bash /scripts/02-start-custom && ls /run/s6-env && cat /run/s6-env/NB_PREFIX",
        {"02-start-custom": START_CUSTOM},
        environment={"NB_PREFIX": "/lab/only-one-part", "HOME": "/tmp"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "NB_PREFIX=/lab/only-one-part is not /notebook/<namespace>/<name>" in outcome.output
    assert outcome.output.splitlines()[-2:] == ["NB_PREFIX", "/lab/only-one-part"]


# --- services.d/jupyter/run ----------------------------------------------------------

# JupyterLab is not in the fixture image, so a stand-in `jupyter` on PATH records its
# arguments (one per line) and the environment it was started with, then exits.
RECORDING_JUPYTER = (
    "mkdir -p /fake/bin; "
    "printf '%s\\n' '#!/bin/bash' "
    '\'printf "ARG %s\\n" "$@" > /tmp/jupyter-call\' '
    "'echo \"ENV XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR\" >> /tmp/jupyter-call' "
    "'echo \"ENV JUPYTER_RUNTIME_DIR=$JUPYTER_RUNTIME_DIR\" >> /tmp/jupyter-call' "
    "'echo \"ENV NB_NAMESPACE=$NB_NAMESPACE\" >> /tmp/jupyter-call' "
    "'echo \"PWD $PWD\" >> /tmp/jupyter-call' "
    "> /fake/bin/jupyter; chmod 0755 /fake/bin/jupyter; "
)


def jupyter_call(output: str) -> tuple[list[str], dict[str, str], str]:
    args = [line[4:] for line in output.splitlines() if line.startswith("ARG ")]
    env = dict(line[4:].split("=", 1) for line in output.splitlines() if line.startswith("ENV "))
    cwd = next(line[4:] for line in output.splitlines() if line.startswith("PWD "))
    return args, env, cwd


def test_jupyter_service_starts_lab_under_the_prefix_with_s6_env(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + RECORDING_JUPYTER + "mkdir -p /home/jovyan; "
        "chown 1000:100 /home/jovyan; "
        # start-custom runs first (as root, like cont-init), then the service as jovyan.
        "bash /scripts/02-start-custom; "
        f"{AS_JOVYAN} PATH=/fake/bin:$PATH NB_PREFIX= bash /scripts/run; "
        "cat /tmp/jupyter-call; stat -c '%u %a' /tmp/runtime-1000",
        {"02-start-custom": START_CUSTOM, "run": JUPYTER_RUN},
        environment={"NB_PREFIX": "/notebook/team-a/server-b", "HOME": "/home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    args, env, cwd = jupyter_call(outcome.output)
    assert args[0] == "lab"
    for flag in (
        "--ip=0.0.0.0",
        "--port=8888",
        "--no-browser",
        # NB_PREFIX was emptied for the service: the value came from /run/s6-env.
        "--ServerApp.base_url=/notebook/team-a/server-b",
        "--ServerApp.token=",
        "--ServerApp.password=",
    ):
        assert flag in args, (flag, args)
    assert env == {
        "XDG_RUNTIME_DIR": "/tmp/runtime-1000",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime-1000",
        "NB_NAMESPACE": "team-a",
    }
    assert cwd == "/home/jovyan"
    assert "1000 700" in outcome.output  # the runtime folder is the user's alone


@pytest.mark.parametrize(
    ("token", "flag"),
    [
        (None, "--ServerApp.token="),  # no token: the gateway authenticates
        # `nox -s dev -- IMAGE --token` sets JUPYTER_TOKEN; the server must then demand it.
        ("t0ken-from-dev", "--ServerApp.token=t0ken-from-dev"),
    ],
)
def test_jupyter_service_default_prefix_and_token(engine, debian, token, flag) -> None:
    outcome = run(
        engine,
        debian,
        RECORDING_JUPYTER + "mkdir -p /home/jovyan; "
        "PATH=/fake/bin:$PATH bash /scripts/run; cat /tmp/jupyter-call",
        {"run": JUPYTER_RUN},
        environment={"HOME": "/home/jovyan", **({"JUPYTER_TOKEN": token} if token else {})},
    )
    assert outcome.exit_code == 0, outcome.output
    args, _, _ = jupyter_call(outcome.output)
    assert "--ServerApp.base_url=/notebook/username/notebookname" in args
    assert [a for a in args if a.startswith("--ServerApp.token=")] == [flag]


# --- sas: SAS Studio behind jupyter-server-proxy -------------------------------------

SAS_DIR = PROJECT / "images" / "sas"


def test_sasstudio_proxy_entry_matches_what_the_image_installs() -> None:
    entry = json.loads((SAS_DIR / "config/sasstudio.json").read_text())["ServerProxy"]
    server = entry["servers"]["sasstudio"]  # served under $NB_PREFIX/sasstudio
    assert server["port"] == 38080
    dockerfile = (SAS_DIR / "Dockerfile").read_text()
    # The launcher the entry runs is the one the Dockerfile copies in, where it runs it.
    assert f"scripts/start-sasstudio {server['command'][0]}" in dockerfile
    assert "COPY config/sasstudio.json /etc/jupyter/jupyter_server_config.json" in dockerfile


# A real jupyter server with the entry where the Dockerfile puts it: what the proxy lists.
SERVE_AND_LIST_PROXIES = (
    "(/opt/venv/bin/jupyter server --allow-root --no-browser --port=8899 "
    "--ServerApp.token= --ServerApp.password= >/tmp/server.log 2>&1 &); "
    "for _ in $(seq 120); do /opt/venv/bin/python -c 'import json, urllib.request; "
    'r = urllib.request.urlopen("http://127.0.0.1:8899/server-proxy/servers-info"); '
    'print(sorted(e["name"] for e in json.load(r)["server_processes"]))\' 2>/dev/null '
    "&& exit 0; sleep 0.5; done; cat /tmp/server.log; exit 1"
)


@pytest.mark.parametrize(
    ("where", "registered"),
    [
        ("/etc/jupyter/jupyter_server_config.json", True),
        # config.d folders do not reach ServerProxy: the reason for the path above.
        ("/etc/jupyter/jupyter_server_config.d/sasstudio.json", False),
    ],
)
def test_jupyter_server_reads_the_sasstudio_entry(engine, where: str, registered: bool) -> None:
    image = jupyter_stack.upstream(engine)  # real jupyter_server + jupyter-server-proxy
    outcome = run(
        engine,
        image,
        f"mkdir -p $(dirname {where}) && cp /scripts/sasstudio.json {where}; "
        + SERVE_AND_LIST_PROXIES,
        {"sasstudio.json": SAS_DIR / "config/sasstudio.json"},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    assert ("['sasstudio']" in outcome.output) is registered, outcome.output


def test_sasstudio_launcher_says_so_when_sas_is_missing(engine, debian) -> None:
    outcome = run(
        engine,
        debian,
        "bash /scripts/start-sasstudio",
        {"start-sasstudio": SAS_DIR / "scripts/start-sasstudio"},
    )
    assert outcome.exit_code == 1
    assert "sasstudio.sh is missing: is SAS installed in this image?" in outcome.output
