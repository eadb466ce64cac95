"""The images' start-up scripts, proxy entries and build steps, run for real.

The scripts under images/ are copied into a container of zone-fixture/debian:bookworm
(bash, coreutils, findutils, util-linux) and run with bash, as s6 would run them,
apart from s6's with-contenv wrapper (it only passes the container's environment on).
What needs Python (the proxy entries, pip's settings) runs in the JupyterLab fixture's
upstream stand-in: Debian 12 with a real jupyter_server, tornado and jupyter-server-proxy.
The real images cannot be built here (no registry is reachable), so the SAS-absent build
is proved on a fixture Dockerfile made of the real sas_kernel Dockerfile's own stage
lines. Every container is labelled io.zone.test=1 and removed, whatever the outcome.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from tasks.stack import dockerfile
from tasks.tests import jupyter_stack
from tasks.tests.support import PROJECT, provisioned

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
    security_opt: list[str] | None = None,
) -> Outcome:
    """Run `command` with bash in a fresh container holding `scripts`; always remove it."""
    container = engine.containers.create(
        image,
        ["bash", "-euo", "pipefail", "-c", command],
        environment=environment or {},
        tmpfs=tmpfs or {},
        user=user,
        security_opt=security_opt,
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
        "plugin.jupyterlab-settings; "
        "echo code-server: $(cat /home/jovyan/.local/share/code-server/User/argv.json)",
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
    # VS Code's display language too (the French language pack is in the image).
    assert 'code-server: { "locale": "fr" }' in outcome.output


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


@pytest.mark.parametrize(
    ("home", "tmpfs"),
    [
        # Files where the staging home and the language settings put folders.
        ("obstructed", {}),
        # A home volume mounted read-only.
        ("read-only", {"/home/jovyan": "ro,size=1m"}),
    ],
)
def test_start_scripts_warn_and_go_on_when_the_home_is_in_the_way(
    engine, debian, home: str, tmpfs: dict[str, str]
) -> None:
    # Both cont-init scripts, in order, as the user (the image's /run is the user's): a
    # failing one would stop the container (S6_BEHAVIOUR_IF_STAGE2_FAILS=2), so each must
    # say what it left out and exit 0; the services' settings are still handed on.
    in_the_way = (
        "mkdir -p /home/jovyan; echo mine > /home/jovyan/.jupyter; "
        "echo mine > /home/jovyan/.local; chown -R 1000:100 /home/jovyan; "
        if home == "obstructed"
        else ""
    )
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + STAGE_HOME + in_the_way + "chown 1000:100 /run; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; echo copy-exit=$?; "
        f"{AS_JOVYAN} bash /scripts/02-start-custom; echo custom-exit=$?; {SHOW_ENV}",
        {"01-copy-tmp-home": COPY_HOME, "02-start-custom": START_CUSTOM},
        environment={
            "NB_USER": "jovyan",
            "HOME_TMP": "/tmp_home/jovyan",
            "NB_PREFIX": "/notebook/data-team/analysis-01",
            "KF_LANG": "fr",
        },
        tmpfs=tmpfs,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "copy-exit=0" in outcome.output and "custom-exit=0" in outcome.output
    for setting in (
        "/home/jovyan/.jupyter/lab/user-settings/@jupyterlab/translation-extension/",
        "/home/jovyan/.local/share/code-server/User/argv.json",
    ):
        assert f"02-start-custom: warning: cannot write {setting}" in outcome.output
    env = env_lines(outcome.output)
    assert env["LANG"] == "fr_CA.UTF-8", outcome.output
    assert env["NB_NAMESPACE"] == "data-team"


CONDA_BASE = PROJECT / "images/mid/s6/cont-init.d/03-conda-base"


@pytest.mark.parametrize("history", ["the user's", "missing"])
def test_conda_base_is_made_read_only_for_conda_at_start(engine, debian, history: str) -> None:
    # As the user (who owns the base environment's files, as the upstream installs them):
    # conda-meta/history, conda's canary for a writable environment, becomes read-only;
    # without it, a warning, and the start goes on.
    make = (
        "mkdir -p /opt/conda/conda-meta; echo '==> 2024 <==' > /opt/conda/conda-meta/history; "
        "chmod 664 /opt/conda/conda-meta/history; chown -R 1000:100 /opt/conda; "
        if history == "the user's"
        else ""
    )
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + make + f"{AS_JOVYAN} bash /scripts/03-conda-base; echo exit=$?; "
        "stat -c '%a' /opt/conda/conda-meta/history 2>/dev/null || echo none",
        {"03-conda-base": CONDA_BASE},
        environment={"CONDA_DIR": "/opt/conda"},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "exit=0" in outcome.output
    if history == "the user's":
        assert outcome.output.splitlines()[-1] == "444"
        assert "conda create -n NAME" in outcome.output
    else:
        assert "warning: cannot make /opt/conda/conda-meta/history read-only" in outcome.output


# --- services.d/jupyter/run ----------------------------------------------------------

# JupyterLab is not in the Debian fixture, so a stand-in Python at $CONDA_DIR/bin/python
# (the service runs the base environment's Python) records its arguments (one per line)
# and the environment it was started with, then exits. The real server is started by
# the test with a hostile user site, further down.
RECORDING_JUPYTER = (
    "mkdir -p /fake/bin; "
    "printf '%s\\n' '#!/bin/bash' "
    '\'printf "ARG %s\\n" "$@" > /tmp/jupyter-call\' '
    "'echo \"ENV XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR\" >> /tmp/jupyter-call' "
    "'echo \"ENV JUPYTER_RUNTIME_DIR=$JUPYTER_RUNTIME_DIR\" >> /tmp/jupyter-call' "
    "'echo \"ENV NB_NAMESPACE=$NB_NAMESPACE\" >> /tmp/jupyter-call' "
    "'echo \"PWD $PWD\" >> /tmp/jupyter-call' "
    "> /fake/bin/python; chmod 0755 /fake/bin/python; "
)
SERVER_START = ["-s", "-m", "jupyterlab"]  # the user site left out of the server alone


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
        f"{AS_JOVYAN} CONDA_DIR=/fake NB_PREFIX= bash /scripts/run; "
        "cat /tmp/jupyter-call; stat -c '%u %a' /tmp/runtime-1000",
        {"02-start-custom": START_CUSTOM, "run": JUPYTER_RUN},
        environment={"NB_PREFIX": "/notebook/team-a/server-b", "HOME": "/home/jovyan"},
    )
    assert outcome.exit_code == 0, outcome.output
    args, env, cwd = jupyter_call(outcome.output)
    assert args[:3] == SERVER_START, args
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
        "CONDA_DIR=/fake bash /scripts/run; cat /tmp/jupyter-call",
        {"run": JUPYTER_RUN},
        environment={"HOME": "/home/jovyan", **({"JUPYTER_TOKEN": token} if token else {})},
    )
    assert outcome.exit_code == 0, outcome.output
    args, _, _ = jupyter_call(outcome.output)
    assert "--ServerApp.base_url=/notebook/username/notebookname" in args
    assert [a for a in args if a.startswith("--ServerApp.token=")] == [flag]


# --- VS Code: the image's extensions in a read-only image folder -----------------------

VSCODE_INIT = PROJECT / "images/mid/s6/cont-init.d/03-vscode-extensions"
REGISTER = PROJECT / "images/mid/scripts/register_vscode_extensions.py"

# The image folder as the mid build leaves it (what code-server writes when it installs
# into --extensions-dir: versioned folders and extensions.json; languagepacks.json from
# its user-data folder), and a home as an existing user has it: the copies an earlier
# image staged into the home (ms-python.python 2025.0.0), a link to an earlier image
# folder's version, the user's own extensions, a language list with German.
VSCODE_LAYOUT = r"""
import json, os, pathlib
def entry(ident, version, folder, where):
    return {"identifier": {"id": ident}, "version": version, "relativeLocation": folder,
            "location": {"$mid": 1, "path": f"{where}/{folder}", "scheme": "file"}}
image = pathlib.Path("/opt/code-server/extensions")
for folder in ("ms-python.python-2026.1.0-universal", "quarto.quarto-1.120.0-universal",
               "ms-ceintl.vscode-language-pack-fr-1.99.0-universal"):
    (image / folder).mkdir(parents=True)
    (image / folder / "package.json").write_text("{}")
(image / "extensions.json").write_text(json.dumps([
    entry("ms-python.python", "2026.1.0", "ms-python.python-2026.1.0-universal", image),
    entry("quarto.quarto", "1.120.0", "quarto.quarto-1.120.0-universal", image),
    entry("ms-ceintl.vscode-language-pack-fr", "1.99.0",
          "ms-ceintl.vscode-language-pack-fr-1.99.0-universal", image)]))
pack = image / "ms-ceintl.vscode-language-pack-fr-1.99.0-universal/translations"
languages = {"fr": {"translations": {"vscode": str(pack / "main.i18n.json")}}}
(image.parent / "languagepacks.json").write_text(json.dumps(languages))
home = pathlib.Path("/home/jovyan/.local/share/code-server")
ext = home / "extensions"
(ext / "ms-python.python-2025.0.0").mkdir(parents=True)
(ext / "user.own-1.0.0").mkdir()
(ext / "quarto.quarto-9.9.9").mkdir()
(ext / "ms-toolsai.jupyter-2024.1.0").symlink_to(image / "ms-toolsai.jupyter-2024.1.0")
(ext / "extensions.json").write_text(json.dumps([
    entry("ms-python.python", "2025.0.0", "ms-python.python-2025.0.0", ext),
    entry("ms-toolsai.jupyter", "2024.1.0", "ms-toolsai.jupyter-2024.1.0", ext),
    entry("user.own", "1.0.0", "user.own-1.0.0", ext),
    entry("quarto.quarto", "9.9.9", "quarto.quarto-9.9.9", ext)]))
(home / "languagepacks.json").write_text(json.dumps({"de": {"translations": {}}}))
"""
SHOW_VSCODE = r"""
import json, os, pathlib
home = pathlib.Path("/home/jovyan/.local/share/code-server")
ext = home / "extensions"
listed = json.loads((ext / "extensions.json").read_text())
print(json.dumps({
    "listed": sorted(
        f"{e['identifier']['id']}@{e['version']}={e['location']['path']}" for e in listed
    ),
    "links": sorted(f"{p.name}->{os.readlink(p)}" for p in ext.iterdir() if p.is_symlink()),
    "languages": json.loads((home / "languagepacks.json").read_text()),
}))
"""


def vscode_setup(python: str) -> str:
    return (
        "ln -sf python3 /usr/bin/python; mkdir -p /usr/local/lib/zone; "
        "cp /scripts/register_vscode_extensions.py /usr/local/lib/zone/; "
        f"cat > /tmp/layout.py <<'EOF'\n{VSCODE_LAYOUT}EOF\n"
        f"cat > /tmp/show.py <<'EOF'\n{SHOW_VSCODE}EOF\n"
        f"{python} /tmp/layout.py; chown -R 1000:100 /home/jovyan; "
    )


def test_vscode_extensions_come_from_the_image_folder_and_the_users_stay(
    engine, python_image
) -> None:
    outcome = run(
        engine,
        python_image,
        vscode_setup("/usr/bin/python3")
        # Two starts: the second finds the first one's work and changes nothing.
        + f"{AS_JOVYAN} CONDA_DIR=/usr bash /scripts/03-vscode-extensions; "
        f"cp /home/jovyan/.local/share/code-server/extensions/extensions.json /tmp/first.json; "
        f"{AS_JOVYAN} CONDA_DIR=/usr bash /scripts/03-vscode-extensions; "
        "cmp /tmp/first.json /home/jovyan/.local/share/code-server/extensions/extensions.json "
        "&& echo same-on-restart; "
        "/usr/bin/python3 /tmp/show.py",
        {"03-vscode-extensions": VSCODE_INIT, "register_vscode_extensions.py": REGISTER},
        environment={"CODE_SERVER_IMAGE_DIR": "/opt/code-server"},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    assert "same-on-restart" in outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
    home = "/home/jovyan/.local/share/code-server/extensions"
    image = "/opt/code-server/extensions"
    assert out["listed"] == [
        # The image's current versions, through links in the user's folder.
        f"ms-ceintl.vscode-language-pack-fr@1.99.0={home}/ms-ceintl.vscode-language-pack-fr-1.99.0-universal",
        f"ms-python.python@2026.1.0={home}/ms-python.python-2026.1.0-universal",
        # The user's own, including their own version of an image extension.
        f"quarto.quarto@9.9.9={home}/quarto.quarto-9.9.9",
        f"user.own@1.0.0={home}/user.own-1.0.0",
    ], out
    # Links only to the image's current versions; the earlier image's link is gone.
    assert out["links"] == [
        f"ms-ceintl.vscode-language-pack-fr-1.99.0-universal->{image}/ms-ceintl.vscode-language-pack-fr-1.99.0-universal",
        f"ms-python.python-2026.1.0-universal->{image}/ms-python.python-2026.1.0-universal",
    ], out
    # French from the image's pack (its real path in the image folder); German kept.
    assert set(out["languages"]) == {"de", "fr"}
    assert out["languages"]["fr"]["translations"]["vscode"].startswith(f"{image}/ms-ceintl.")


def test_vscode_registration_warns_and_goes_on_when_the_home_is_in_the_way(
    engine, python_image
) -> None:
    outcome = run(
        engine,
        python_image,
        vscode_setup("/usr/bin/python3")
        + "rm -rf /home/jovyan/.local/share/code-server/extensions; "
        "echo mine > /home/jovyan/.local/share/code-server/extensions; "
        f"{AS_JOVYAN} CONDA_DIR=/usr bash /scripts/03-vscode-extensions; echo exit=$?",
        {"03-vscode-extensions": VSCODE_INIT, "register_vscode_extensions.py": REGISTER},
        environment={"CODE_SERVER_IMAGE_DIR": "/opt/code-server"},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    assert "exit=0" in outcome.output
    assert "03-vscode-extensions: warning: VS Code's image extensions are not listed" in (
        outcome.output
    )


def test_vscode_extensions_install_into_the_image_folder_and_fail_the_build() -> None:
    # The mid Dockerfile's own step: every --install-extension into the image folder,
    # and a failing one ends the loop with a failure (SHELL has no -e).
    step = next(
        item.script
        for item in dockerfile.parse(MID_DOCKERFILE.read_text())
        if item.keyword == "RUN" and "--install-extension" in item.script
    )
    assert '--extensions-dir "${CODE_SERVER_IMAGE_DIR}/extensions"' in step
    assert 'HOME="${data}" code-server' in step  # its config and caches are thrown away
    assert '--install-extension "${extension}" || exit 1; \\' in step or (
        '--install-extension "${extension}" || exit 1;' in step
    )
    assert 'cp "${data}/languagepacks.json" "${CODE_SERVER_IMAGE_DIR}/languagepacks.json"' in step
    assert "HOME_TMP" not in step  # nothing staged into the homes
    assert dockerfile_env(MID_DOCKERFILE, "CODE_SERVER_IMAGE_DIR") == "/opt/code-server"


# --- the server against a hostile user site ---------------------------------------------

# conda's base environment is a Python prefix, not a venv: there the user site comes
# BEFORE the prefix's site-packages. The fixture's JupyterLab (in the venv /opt/venv, where
# the venv's packages come first) is copied into Debian's own Python prefix (/usr, with
# /usr/bin/python), which orders them as conda's does. The user's site then holds what a
# `pip install` could leave there: a jupyter_server that fails on import, and a module of
# the user's own.
HOSTILE_SITE = (
    "mkdir -p /usr/local/lib/python3.11/dist-packages /usr/share/jupyter /etc/jupyter; "
    "cp -a /opt/venv/lib/python3.11/site-packages/. /usr/local/lib/python3.11/dist-packages/; "
    "cp -a /opt/venv/share/jupyter/. /usr/share/jupyter/; "
    "cp -a /opt/venv/etc/jupyter/. /etc/jupyter/; "
    "ln -sf python3 /usr/bin/python; "
    "site=/home/jovyan/.local/lib/python3.11/site-packages; "
    "mkdir -p $site/jupyter_server; "
    "echo 'raise ImportError(\"a user-installed jupyter_server that cannot start\")' "
    "> $site/jupyter_server/__init__.py; "
    "echo 'OK = \"imported from the user site\"' > $site/users_own.py; "
    "chown -R 1000:100 /home/jovyan; "
)
# Waits for the server, starts a kernel through its API and runs code in it: the kernel
# must import the user's own module. One line of JSON with what happened.
SERVER_PROBE = r"""
import glob, json, time, urllib.request
base = "http://127.0.0.1:8888/notebook/team-a/server-b"
auth = {"Authorization": "token t0ken"}
def call(method, path, body=None):
    request = urllib.request.Request(base + path, method=method, headers=auth,
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
deadline = time.monotonic() + 90
while True:
    try:
        status = call("GET", "/api/status")
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
kernel = call("POST", "/api/kernels", {"name": "python3"})
from jupyter_client import BlockingKernelClient
client = BlockingKernelClient()
client.load_connection_file(glob.glob(f"/tmp/jupyter-runtime-1000/kernel-{kernel['id']}.json")[0])
client.start_channels()
# Until the kernel answers on both channels (wait_for_ready gives up after a second
# without a heartbeat). IOPub subscribes late: an execute sent before it has, has its
# output lost, so its status for a kernel_info request must come through first.
deadline = time.monotonic() + 90
while True:
    client.kernel_info()
    try:
        if client.get_shell_msg(timeout=2)["msg_type"] == "kernel_info_reply":
            client.get_iopub_msg(timeout=2)
            break
    except Exception:
        if time.monotonic() > deadline:
            raise
printed = []
def keep(message):
    if message["msg_type"] == "stream":
        printed.append(message["content"]["text"])
client.execute_interactive("import users_own; print(users_own.OK)", output_hook=keep, timeout=60)
print(json.dumps({"started": status.get("started"), "kernel": "".join(printed).strip()}))
"""


def test_the_server_starts_past_a_broken_user_install_and_kernels_keep_it(
    engine, python_image
) -> None:
    outcome = run(
        engine,
        python_image,
        HOSTILE_SITE
        # The hostile site is real: the plain way of starting the server fails on it.
        + f"{AS_JOVYAN} /usr/bin/python -m jupyterlab --version >/tmp/plain.log 2>&1 "
        "&& echo plain-start: fine || echo plain-start: broken; "
        "grep -o 'a user-installed jupyter_server that cannot start' /tmp/plain.log || true; "
        # The image's service script, as s6 runs it (as the user), in the background.
        f"({AS_JOVYAN} CONDA_DIR=/usr JUPYTER_TOKEN=t0ken "
        "NB_PREFIX=/notebook/team-a/server-b bash /scripts/run >/tmp/server.log 2>&1 &); "
        f"cat > /tmp/probe.py <<'EOF'\n{SERVER_PROBE}EOF\n"
        "/usr/bin/python -s /tmp/probe.py || { cat /tmp/server.log; exit 1; }",
        {"run": JUPYTER_RUN},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    assert "plain-start: broken" in outcome.output
    assert "a user-installed jupyter_server that cannot start" in outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
    assert out["started"], out  # the server answers under the prefix
    # A kernel the server starts still imports the user's packages.
    assert out["kernel"] == "imported from the user site", out


# --- sas: SAS Studio behind jupyter-server-proxy -------------------------------------

SAS_DIR = PROJECT / "images" / "sas"
START_SASSTUDIO = SAS_DIR / "scripts/start-sasstudio"
PROXY_PACKAGE = SAS_DIR / "sasstudio-proxy"
PROXY_FILES = {
    f"sasstudio-proxy/{path.relative_to(PROXY_PACKAGE)}": path
    for path in sorted(PROXY_PACKAGE.rglob("*"))
    if path.is_file()
}
# The sas Dockerfile's own step that puts the module where the base environment's Python
# finds it (its bind mount is /tmp/sasstudio-proxy), run here as it is written there.
PLACE_PROXY = next(
    line.strip().removesuffix("\\").strip()
    for line in (SAS_DIR / "Dockerfile").read_text().splitlines()
    if line.strip().startswith("cp -r /tmp/sasstudio-proxy/.")
)
VENV = "/opt/venv/bin"


@pytest.fixture(scope="module")
def python_image(engine: docker.DockerClient) -> str:
    """Debian 12 + a real jupyter_server, tornado and jupyter-server-proxy (the fixture's)."""
    return jupyter_stack.upstream(engine)


def test_sasstudio_launcher_says_so_when_sas_is_missing(engine, debian) -> None:
    outcome = run(
        engine, debian, "bash /scripts/start-sasstudio", {"start-sasstudio": START_SASSTUDIO}
    )
    assert outcome.exit_code == 1
    assert "sasstudio.sh is missing: is SAS installed in this image?" in outcome.output


# A stand-in for SAS's studioconfig/sasstudio.sh: `start` runs a web server on the SAS
# Studio port and returns once it answers (the real one daemonises too), `stop` ends it,
# and there is no
# # `status` sub-command: it prints its usage and fails, as a control script without one would.
FAKE_CONTROL = r"""#!/bin/bash
case "$1" in
    start) python3 -m http.server 38080 --bind 127.0.0.1 >/tmp/studio.log 2>&1 &
           echo $! > /tmp/studio.pid
           until (exec 3<>/dev/tcp/127.0.0.1/38080) 2>/dev/null; do sleep 0.2; done ;;
    stop) kill "$(cat /tmp/studio.pid)"; echo "control: stopped" ;;
    *) echo "usage: sasstudio.sh start|stop" >&2; exit 2 ;;
esac
"""
WRITE_CONTROL = (
    f"cat > /tmp/sasstudio.sh <<'EOF'\n{FAKE_CONTROL}EOF\nchmod 0755 /tmp/sasstudio.sh; "
)
UNTIL_PORT_OPEN = "until (exec 3<>/dev/tcp/127.0.0.1/38080) 2>/dev/null; do sleep 0.2; done; "
SASSTUDIO_ENV = {
    "SASSTUDIO_CONTROL": "/tmp/sasstudio.sh",
    "SASSTUDIO_STARTUP": "1",  # the start-up grace ends long before the checks below
    "SASSTUDIO_POLL": "0.2",
}


def test_sasstudio_launcher_keeps_running_without_a_status_command(engine, python_image) -> None:
    # Past the start-up grace, with `status` failing, the launcher still runs because
    # SAS Studio answers on its port; when SAS Studio goes away, it exits 1 and says why.
    outcome = run(
        engine,
        python_image,
        WRITE_CONTROL
        + "bash /scripts/start-sasstudio & launcher=$!; "
        + UNTIL_PORT_OPEN
        + "sleep 3; kill -0 $launcher && echo 'launcher: still running'; "
        "kill $(cat /tmp/studio.pid); "
        "status=0; wait $launcher || status=$?; echo launcher-exit=$status",
        {"start-sasstudio": START_SASSTUDIO},
        environment=SASSTUDIO_ENV,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "launcher: still running" in outcome.output
    assert "launcher-exit=1" in outcome.output
    assert "SAS Studio exited (no status and nothing on port 38080)" in outcome.output


def test_sasstudio_launcher_stops_sas_studio_when_the_proxy_stops_it(engine, python_image) -> None:
    outcome = run(
        engine,
        python_image,
        WRITE_CONTROL
        + "bash /scripts/start-sasstudio & launcher=$!; "
        + UNTIL_PORT_OPEN
        + "kill -TERM $launcher; status=0; wait $launcher || status=$?; "
        "echo launcher-exit=$status; sleep 0.5; "
        "(exec 3<>/dev/tcp/127.0.0.1/38080) 2>/dev/null && echo port-open || echo port-closed",
        {"start-sasstudio": START_SASSTUDIO},
        environment=SASSTUDIO_ENV,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "control: stopped" in outcome.output
    assert "launcher-exit=0" in outcome.output
    assert outcome.output.rstrip().endswith("port-closed")


def test_sasstudio_launcher_explains_on_the_page_when_setuid_is_off(engine, python_image) -> None:
    # A real no_new_privs container (what allowPrivilegeEscalation: false gives a pod):
    # the launcher does not start SAS Studio, whose sign-in could not work, and says why
    # in the log and on the page the tile opens.
    outcome = run(
        engine,
        python_image,
        WRITE_CONTROL + "grep NoNewPrivs /proc/self/status; "
        "bash /scripts/start-sasstudio 2>/tmp/launcher.log & "
        + UNTIL_PORT_OPEN
        + "cat /tmp/launcher.log; "
        "/opt/venv/bin/python -c 'import urllib.request as u; "
        'print(u.urlopen("http://127.0.0.1:38080/SASStudio/").read().decode())\'; '
        "test -e /tmp/studio.pid && echo studio-started || echo studio-not-started",
        {"start-sasstudio": START_SASSTUDIO},
        environment=SASSTUDIO_ENV,
        security_opt=["no-new-privileges"],
    )
    assert outcome.exit_code == 0, outcome.output
    assert "NoNewPrivs:\t1" in outcome.output
    assert "start-sasstudio: SAS Studio cannot sign anyone in here" in outcome.output
    assert "<h1>SAS Studio is not available</h1>" in outcome.output
    assert "allowPrivilegeEscalation: false" in outcome.output
    assert outcome.output.rstrip().endswith("studio-not-started")


PASSWORD_HELPER = SAS_DIR / "scripts/sas-studio-password"
PASSWORD_INIT = SAS_DIR / "s6/cont-init.d/04-sas-studio-password"
CHECK_PASSWORD = (
    "import crypt, spwd, sys; h = spwd.getspnam('jovyan').sp_pwdp; "
    "print('password-works' if crypt.crypt(sys.argv[1], h) == h else 'password-wrong')"
)


def test_sas_studio_password_is_new_and_random_in_each_container(engine, python_image) -> None:
    # The helper as sudo runs it (root, SUDO_USER the caller): two runs give two
    # different passwords, the system takes the last one, and root is refused.
    outcome = run(
        engine,
        python_image,
        "echo before: $(getent shadow jovyan | cut -d: -f2); "
        "first=$(SUDO_USER=jovyan bash /scripts/sas-studio-password); "
        "second=$(SUDO_USER=jovyan bash /scripts/sas-studio-password); "
        '[ "$first" != "$second" ] && echo different; echo length=${#second}; '
        f'/usr/bin/python3 -W ignore -c "{CHECK_PASSWORD}" "$second"; '
        f'/usr/bin/python3 -W ignore -c "{CHECK_PASSWORD}" "$first"; '
        "SUDO_USER=root bash /scripts/sas-studio-password || echo root-refused",
        {"sas-studio-password": PASSWORD_HELPER},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    assert lines[0] == "before: !"  # the image's: no password at all
    assert "different" in lines and "length=32" in lines
    assert lines[lines.index("length=32") + 1 :][:2] == ["password-works", "password-wrong"]
    assert "root-refused" in outcome.output


@pytest.mark.parametrize("no_new_privs", [True, False])
def test_sas_studio_password_start_says_what_happened_and_goes_on(
    engine, python_image, no_new_privs: bool
) -> None:
    # As the user, as s6 runs it. With no_new_privs nothing can be made (and sign-in
    # cannot work): a warning. Without sudo (the fixture has none), another warning.
    outcome = run(
        engine,
        python_image,
        "chown 1000:100 /run; "
        f"{AS_JOVYAN} bash /scripts/04-sas-studio-password; echo exit=$?; "
        "test -e /run/sas-studio-password && echo file || echo no-file",
        {"04-sas-studio-password": PASSWORD_INIT},
        user="root",
        security_opt=["no-new-privileges"] if no_new_privs else None,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "exit=0" in outcome.output
    assert "no-file" in outcome.output.splitlines()
    if no_new_privs:
        assert "runs with no_new_privs (allowPrivilegeEscalation: false)" in outcome.output
    else:
        assert "no SAS Studio password could be made" in outcome.output


def test_sas_studio_password_is_the_one_thing_sudo_allows() -> None:
    step = next(
        item.script
        for item in dockerfile.parse((SAS_DIR / "Dockerfile").read_text())
        if item.keyword == "RUN" and "sudoers.d" in item.script
    )
    rule = '\'%s ALL=(root) NOPASSWD: /usr/local/sbin/sas-studio-password ""\\n\' "${NB_USER}"'
    assert rule in step, step
    assert "visudo -cf /etc/sudoers.d/sas-studio-password" in step


def test_no_known_password_in_the_image_context() -> None:
    # Every file the images are built from: no password written in, and the one
    # command that sets one makes it random.
    setters = []
    for path in sorted((PROJECT / "images").rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for bad in ("jovyan:jovyan", "${NB_USER}:${NB_USER}", "$NB_USER:$NB_USER"):
            assert bad not in text, (path, bad)
        for word in ("chpasswd", "usermod -p", "useradd -p", "--password="):
            if word in text:
                setters.append((path.relative_to(PROJECT).as_posix(), word))
    assert setters == [("images/sas/scripts/sas-studio-password", "chpasswd")], setters
    helper = PASSWORD_HELPER.read_text()
    assert 'password="$(openssl rand -hex 16)"' in helper


# The rewrite, run by a real Python with tornado's HTTPHeaders (what jupyter-server-proxy
# hands rewrite_response): one line of JSON with what came out.
REWRITE = r"""
import json, sys, types
sys.path.insert(0, "/scripts/sasstudio-proxy")
from tornado.httputil import HTTPHeaders
import zone_sasstudio_proxy as proxy
out = {}
for name, location in [
    ("absolute", "http://localhost:38080/SASStudio/main?locale=fr#top"),
    ("loopback", "http://127.0.0.1:38080/SASStudio/"),
    ("path", "/SASStudio/sasexec/sessions"),
    ("done", "/notebook/team-a/server-b/sasstudio/SASStudio/"),
    ("relative", "main"),
    ("elsewhere", "https://login.example.org/SASLogon/"),
]:
    headers = HTTPHeaders()
    headers["Location"] = location
    headers.add("Set-Cookie", "JSESSIONID=abc; Path=/SASStudio; HttpOnly")
    headers.add("Set-Cookie", "theme=dark; path=/; Max-Age=60")
    headers.add("Set-Cookie", "plain=1")
    response = types.SimpleNamespace(headers=headers, code=302)
    proxy.rewrite_response(response)
    out[name] = headers["Location"]
    out["cookies"] = headers.get_list("Set-Cookie")
    # What each kind of proxy gets, the image's (4.2) and later ones (4.5+), which
    # prefix a redirect to a path themselves.
    prefix = proxy.proxy_prefix()
    for version in ("4.2", "4.5"):
        adds = proxy.proxy_prefixes_redirects(version + ".0")
        out[name + "@" + version] = proxy.rewrite_location(location, prefix, adds)
entry = proxy.setup_sasstudio()
out["entry"] = {k: v for k, v in entry.items() if k != "rewrite_response"}
print(json.dumps(out))
"""


def test_sasstudio_rewrite_keeps_redirects_and_cookies_under_the_prefix(
    engine, python_image
) -> None:
    outcome = run(
        engine,
        python_image,
        f"cat > /tmp/rewrite.py <<'EOF'\n{REWRITE}EOF\n{VENV}/python /tmp/rewrite.py",
        PROXY_FILES,
        environment={"NB_PREFIX": "/notebook/team-a/server-b/"},
    )
    assert outcome.exit_code == 0, outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
    prefix = "/notebook/team-a/server-b/sasstudio"
    # The image's proxy (4.2) sends the Location on as it is: ours carries the prefix.
    assert out["absolute@4.2"] == f"{prefix}/SASStudio/main?locale=fr#top"
    assert out["loopback@4.2"] == f"{prefix}/SASStudio/"
    assert out["path@4.2"] == f"{prefix}/SASStudio/sasexec/sessions"
    assert out["done@4.2"] == f"{prefix}/SASStudio/"  # never prefixed twice
    # A later proxy adds the prefix to a path itself: ours leaves a path without it.
    assert out["absolute@4.5"] == "/SASStudio/main?locale=fr#top"
    assert out["done@4.5"] == "/SASStudio/"
    for name in ("relative", "elsewhere"):  # not SAS Studio's own absolute redirects
        assert out[name] == out[name + "@4.2"] == out[name + "@4.5"]
    assert out["relative"] == "main"
    assert out["elsewhere"] == "https://login.example.org/SASLogon/"
    # This fixture's proxy is 4.6: rewrite_response chose the path form there.
    assert out["absolute"] == out["absolute@4.5"]
    assert out["cookies"] == [
        f"JSESSIONID=abc; Path={prefix}/SASStudio; HttpOnly",
        f"theme=dark; path={prefix}/; Max-Age=60",
        "plain=1",
    ]
    assert out["entry"]["command"] == ["/usr/local/bin/start-sasstudio"]
    assert out["entry"]["port"] == 38080
    assert out["entry"]["launcher_entry"]["path_info"] == "sasstudio/SASStudio"
    # The proxy waits as long as the launcher does (jupyter-server-proxy kills a server
    # that is not ready within `timeout`): one number, handed to the launcher, and the
    # launcher's own default is the same.
    assert out["entry"]["timeout"] == 300
    assert out["entry"]["environment"] == {"SASSTUDIO_STARTUP": "300"}
    assert 'startup="${SASSTUDIO_STARTUP:-300}"' in START_SASSTUDIO.read_text()
    dockerfile = (SAS_DIR / "Dockerfile").read_text()
    assert "COPY --chmod=0755 scripts/start-sasstudio /usr/local/bin/start-sasstudio" in dockerfile


# A stand-in SAS Studio that answers as the real one does on its first page: a redirect
# to its own absolute URL and a session cookie for /SASStudio.
FAKE_STUDIO = r"""
import http.server
class Studio(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://localhost:38080/SASStudio/main?seen=" + self.path)
        self.send_header("Set-Cookie", "JSESSIONID=s1; Path=/SASStudio; HttpOnly")
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", 38080), Studio).serve_forever()
"""
STUDIO_CONTROL = r"""#!/bin/bash
case "$1" in
    start) echo "$SASSTUDIO_STARTUP" > /tmp/startup-seen
           /opt/venv/bin/python /tmp/studio.py >/tmp/studio.log 2>&1 & ;;
    stop) pkill -f /tmp/studio.py || true ;;
    status) exit 0 ;;
esac
"""
THROUGH_THE_PROXY = r"""
import http.client, json, time
for _ in range(240):
    try:
        c = http.client.HTTPConnection("127.0.0.1", 8899, timeout=60)
        c.request("GET", "/notebook/team-a/server-b/server-proxy/servers-info")
        names = [e["name"] for e in json.load(c.getresponse())["server_processes"]]
        break
    except OSError:
        time.sleep(0.5)
c = http.client.HTTPConnection("127.0.0.1", 8899, timeout=120)
c.request("GET", "/notebook/team-a/server-b/sasstudio/SASStudio/")
r = c.getresponse()
print(json.dumps({"names": names, "status": r.status, "location": r.getheader("Location"),
                  "cookies": r.msg.get_all("Set-Cookie"),
                  "startup": open("/tmp/startup-seen").read().strip()}))
"""


def test_sasstudio_entry_point_serves_under_the_prefix(engine, python_image) -> None:
    # The module placed as the sas Dockerfile places it; a real jupyter_server then
    # starts the launcher through the entry point, and the redirect reaches the browser
    # rewritten under $NB_PREFIX/sasstudio.
    install = (
        # The container has no network: name localhost, as every pod's /etc/hosts does
        # (jupyter-server-proxy reaches its servers by that name).
        "grep -qw localhost /etc/hosts || echo '127.0.0.1 localhost' >> /etc/hosts; "
        f"cp -r /scripts/sasstudio-proxy /tmp/sasstudio-proxy && {PLACE_PROXY}; "
        "install -m 0755 /scripts/start-sasstudio /usr/local/bin/start-sasstudio; "
        f"cat > /tmp/studio.py <<'EOF'\n{FAKE_STUDIO}EOF\n"
        f"cat > /tmp/sasstudio.sh <<'EOF'\n{STUDIO_CONTROL}EOF\nchmod 0755 /tmp/sasstudio.sh; "
    )
    serve = (
        f"({VENV}/jupyter server --allow-root --no-browser --port=8899 "
        "--ServerApp.base_url=/notebook/team-a/server-b/ --ServerApp.token= "
        "--ServerApp.password= >/tmp/server.log 2>&1 &); "
        f"cat > /tmp/probe.py <<'EOF'\n{THROUGH_THE_PROXY}EOF\n"
        f"{VENV}/python /tmp/probe.py || {{ cat /tmp/server.log; exit 1; }}"
    )
    outcome = run(
        engine,
        python_image,
        install + serve,
        {**PROXY_FILES, "start-sasstudio": START_SASSTUDIO},
        environment={
            "NB_PREFIX": "/notebook/team-a/server-b",
            "SASSTUDIO_CONTROL": "/tmp/sasstudio.sh",
        },
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
    assert "sasstudio" in out["names"], out
    assert out["status"] == 302, out
    prefix = "/notebook/team-a/server-b/sasstudio"
    # SAS Studio saw its own path (the proxy strips the prefix), the browser gets ours.
    assert out["location"] == f"{prefix}/SASStudio/main?seen=/SASStudio/", out
    assert f"JSESSIONID=s1; Path={prefix}/SASStudio; HttpOnly" in out["cookies"], out
    # The launcher was given the proxy's own timeout as its start-up grace.
    assert out["startup"] == "300", out


# --- mid: RStudio through jupyter-rsession-proxy -------------------------------------

MID_DOCKERFILE = PROJECT / "images/mid/Dockerfile"


def dockerfile_arg(path: Path, name: str) -> str:
    """The default of `ARG name=...` in a real Dockerfile (the pin the image uses)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"ARG {name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no ARG {name} in {path}")


def dockerfile_env(path: Path, name: str) -> str:
    """The value an ENV instruction of a real Dockerfile gives `name`."""
    for item in dockerfile.parse(path.read_text()):
        if item.keyword == "ENV":
            for word in item.arguments.replace("\\\n", " ").split():
                if word.startswith(f"{name}="):
                    return word.split("=", 1)[1].strip('"')
    raise AssertionError(f"no ENV {name} in {path}")


def mid_env(name: str) -> dict[str, str]:
    """name=value as the mid Dockerfile's ENV instructions set it."""
    return {name: dockerfile_env(MID_DOCKERFILE, name)}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """jupyter-rsession-proxy at the image's pinned version, from PyPI (reachable here)."""
    folder = tmp_path_factory.mktemp("wheels")
    version = dockerfile_arg(MID_DOCKERFILE, "JUPYTER_RSESSION_PROXY_VERSION")
    argv = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    argv += ["-d", str(folder), f"jupyter-rsession-proxy=={version}"]
    subprocess.run(argv, check=True)
    return {f"wheels/{path.name}": path for path in folder.glob("*.whl")}


# What the RStudio entry runs, asked of the real package: a stand-in rserver answers
# --help with the flags 2024.04's rserver has (the package probes them).
RSERVER_ENTRY = r"""
import importlib.metadata, json, inspect
entry = importlib.metadata.entry_points(group="jupyter_serverproxy_servers", name="rstudio")
config = next(iter(entry)).load()()
command = config["command"]
print(json.dumps({"command": command(port=8787) if callable(command) else command,
                  "launcher": config["launcher_entry"], "timeout": config["timeout"]}))
"""
FAKE_RSERVER = (
    "mkdir -p /usr/lib/rstudio-server/bin; printf '%s\\n' '#!/bin/bash' "
    "'echo \"--www-root-path --server-data-dir --database-config-file\"' "
    "> /usr/lib/rstudio-server/bin/rserver; chmod 0755 /usr/lib/rstudio-server/bin/rserver; "
)


def test_rstudio_entry_runs_rserver_under_the_prefix(engine, python_image, wheels) -> None:
    outcome = run(
        engine,
        python_image,
        FAKE_RSERVER + f"{VENV}/pip install -q --no-index --no-deps /scripts/wheels/*.whl; "
        f"cat > /tmp/entry.py <<'EOF'\n{RSERVER_ENTRY}EOF\n"
        f"PATH=$PATH:/usr/lib/rstudio-server/bin {VENV}/python /tmp/entry.py",
        wheels,
        # The mid image's own ENV for the proxy's start timeout.
        environment={"NB_PREFIX": "/notebook/team-a/server-b", **mid_env("RSERVER_TIMEOUT")},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
    # rserver gets a minute to answer (the package's default is 15 s).
    assert out["timeout"] == 60, out
    command = out["command"]
    # rserver found on PATH (mid adds /usr/lib/rstudio-server/bin, where the .deb puts
    # it), on the port the proxy chose, under the proxy's own path: the entry point's
    # name, rstudio, i.e. $NB_PREFIX/rstudio.
    assert command[0] == "rserver", command
    assert "--www-port=8787" in command
    assert "--www-root-path={base_url}rstudio/" in command
    assert out["launcher"]["title"] == "RStudio"
    dockerfile = MID_DOCKERFILE.read_text()
    assert 'PATH="${PATH}:/usr/lib/rstudio-server/bin"' in dockerfile
    assert '"jupyter-rsession-proxy==${JUPYTER_RSESSION_PROXY_VERSION}"' in dockerfile
    # New R sessions start in the home, as the original's.
    assert "'session-default-working-dir=~'" in dockerfile


# --- mid: pip installs land on the home volume, environments stay their own -----------

PIP_BASE_ENV = PROJECT / "images/mid/config/pip-base-env.conf"


def test_base_environment_pip_installs_to_the_home_volume(engine, python_image, wheels) -> None:
    # pip reads <sys.prefix>/pip.conf, where mid puts pip-base-env.conf for conda's base
    # environment. Here a Python with its own prefix and the system's site-packages stands
    # in for it (user installs need the user site visible); a second environment, made by
    # the user, must still install into itself.
    wheel = "/scripts/" + next(iter(wheels))
    outcome = run(
        engine,
        python_image,
        f"{VENV}/python -m venv --system-site-packages /opt/base "
        "&& cp /scripts/pip-base-env.conf /opt/base/pip.conf; "
        f"{AS_JOVYAN} /opt/base/bin/python -m pip install -q --no-index --no-deps {wheel} && "
        "ls -d /home/jovyan/.local/lib/python3.*/site-packages/jupyter_rsession_proxy "
        "&& echo base-env: home; "
        f"{AS_JOVYAN} /opt/base/bin/python -m venv /tmp/myenv && "
        f"{AS_JOVYAN} /tmp/myenv/bin/python -m pip install -q --no-index --no-deps {wheel} && "
        "ls -d /tmp/myenv/lib/python3.*/site-packages/jupyter_rsession_proxy "
        "&& echo own-env: itself",
        {**wheels, "pip-base-env.conf": PIP_BASE_ENV},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    assert "base-env: home" in outcome.output
    assert "own-env: itself" in outcome.output


# --- sas-kernel: with the SAS image, or without it (SAS_IMAGE empty) -----------------

SAS_KERNEL_DOCKERFILE = PROJECT / "images/sas_kernel/Dockerfile"
# The stand-in for the private SAS installation image: SASHome with the files the
# Dockerfile's set-up touches (the authentication helpers, studioconfig).
SAS_INSTALL = """FROM zone-fixture/busybox:latest
RUN bin=/usr/local/SASHome/SASFoundation/9.4/utilities/bin && mkdir -p $bin \\
 /usr/local/SASHome/studioconfig && for f in {helpers} sas; do \\
 echo "$f" > $bin/$f && chmod 0755 $bin/$f; done && echo studio > \\
 /usr/local/SASHome/studioconfig/sasstudio.sh
"""
ALL_HELPERS = ("sasauth", "elssrv", "sasperm")


def _instruction_text(item: dockerfile.Instruction) -> str:
    flags = " ".join(f"--{name}={value}" if value else f"--{name}" for name, value in item.flags)
    return " ".join(part for part in (item.keyword, flags, item.arguments) if part)


def sas_steps_dockerfile() -> str:
    """The real sas_kernel Dockerfile's SAS steps, on the Debian fixture.

    Its stages up to and including the final FROM, as written; in the final stage its SAS
    arguments, label, shell, the sasstaff/password RUN, the COPY --from=sas and the setuid
    RUN. Quarto, pip and the site archive need the internet: left out. A stand-in user
    jovyan comes first, as the upstream image has one.
    """
    instructions = dockerfile.parse(SAS_KERNEL_DOCKERFILE.read_text())
    last = max(i for i, item in enumerate(instructions) if item.keyword == "FROM")

    def sas_step(item: dockerfile.Instruction) -> bool:
        if item.keyword == "ARG":
            return item.arguments.startswith("SAS")
        if item.keyword == "RUN":
            return "sasstaff" in item.script or "sasauth" in item.script
        if item.keyword == "COPY":
            return item.flag_values("from") == ["sas"]
        return item.keyword in ("LABEL", "SHELL")

    kept = [_instruction_text(item) for item in instructions[: last + 1]]
    kept += [
        "ENV NB_USER=jovyan NB_UID=1000 NB_GID=100",
        "RUN useradd --uid 1000 --gid 100 --no-create-home jovyan",
    ]
    kept += [_instruction_text(item) for item in instructions[last + 1 :] if sas_step(item)]
    return "\n".join(kept) + "\n"


def docker_build(context: Path, tag: str, *args: str, dockerfile_text: str | None = None):
    """`docker build` (BuildKit, the local engine) of `context`; the completed process."""
    if dockerfile_text is not None:
        (context / "Dockerfile").write_text(dockerfile_text)
    argv = ["docker", "build", "-q", "--label", "io.zone.test=1", "-t", tag, *args, str(context)]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def test_images(engine: docker.DockerClient) -> Iterator[str]:
    """A tag prefix for the images these tests build; those tags are removed afterwards.

    Removed by name, not by listing the engine's images: other runs share the engine.
    """
    prefix = f"zone-test-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        for name in ("sas-install:fixture", "sas-kernel:present", "sas-kernel:absent"):
            with contextlib.suppress(docker.errors.APIError):
                engine.images.remove(f"{prefix}/{name}")


SHOW_SAS = (
    "stat -c '%u:%g %a %n' /usr/local/SASHome; "
    "find /usr/local/SASHome -mindepth 1 -exec stat -c '%u:%g %a %n' {} + | sort; "
    "id -nG jovyan; getent group sasstaff"
)


@pytest.mark.parametrize(
    ("with_sas", "helpers"),
    [
        (True, ALL_HELPERS),
        # A SAS image without elssrv (the original's sas4c:0.0.3 era): still builds.
        (True, ("sasauth", "sasperm")),
        (False, ()),
    ],
)
def test_sas_kernel_builds_with_or_without_the_sas_image(
    engine, debian, test_images, tmp_path, with_sas: bool, helpers: tuple[str, ...]
) -> None:
    sas_image = ""
    if with_sas:
        sas_image = f"{test_images}/sas-install:fixture"
        built = subprocess.run(
            ["docker", "build", "-q", "--label", "io.zone.test=1", "-t", sas_image, "-"],
            input=SAS_INSTALL.format(helpers=" ".join(helpers)),
            capture_output=True,
            text=True,
            check=False,
        )
        assert built.returncode == 0, built.stderr
    tag = f"{test_images}/sas-kernel:{'present' if with_sas else 'absent'}"
    built = docker_build(
        tmp_path,
        tag,
        "--build-arg",
        f"BASE_IMAGE={debian}",
        "--build-arg",
        f"SAS_IMAGE={sas_image}",
        dockerfile_text=sas_steps_dockerfile(),
    )
    assert built.returncode == 0, built.stderr
    labels = engine.images.get(tag).labels
    assert labels["io.zone.sas"] == ("present" if with_sas else "absent")
    outcome = run(engine, tag, SHOW_SAS, {}, user="root")
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    # SASHome belongs to jovyan and sasstaff (its fixed gid), with or without SAS.
    assert lines[0] == "1000:1002 755 /usr/local/SASHome"
    assert "sasstaff:x:1002:jovyan" in lines
    assert any(line.split() == ["users", "sasstaff"] for line in lines), lines
    bin_dir = "/usr/local/SASHome/SASFoundation/9.4/utilities/bin"
    if with_sas:
        for helper in helpers:
            assert f"0:0 4755 {bin_dir}/{helper}" in lines, lines
        for helper in set(ALL_HELPERS) - set(helpers):
            assert not any(line.endswith(f"/{helper}") for line in lines), lines
        assert f"1000:1002 755 {bin_dir}/sas" in lines
        assert "1000:1002 644 /usr/local/SASHome/studioconfig/sasstudio.sh" in lines
    else:
        assert not any(line.startswith("1000:1002") for line in lines[1:] if " /usr/" in line)
    # No password comes with the image (the sas image makes one per container).
    shadow = run(engine, tag, "getent shadow jovyan | cut -d: -f2", {}, user="root")
    assert shadow.output.strip() == "!", shadow.output


@pytest.mark.parametrize("folder", ["base", "mid", "sas_kernel", "jupyterlab", "sas"])
def test_a_stage_built_alone_says_what_to_pass(tmp_path, folder: str) -> None:
    # `docker build images/<folder>` without BASE_IMAGE stops at once with the message.
    # (The syntax line is left out: it would fetch the frontend image, which needs a
    # registry; the local engine's built-in frontend reads the rest the same way.)
    text = (PROJECT / "images" / folder / "Dockerfile").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("# syntax="))
    built = docker_build(tmp_path, "zone-test-unused/never:built", dockerfile_text=text + "\n")
    assert built.returncode != 0
    assert "BASE_IMAGE: pass_--build-arg_BASE_IMAGE=<" in built.stderr, built.stderr
    assert "_or_build_with_nox_-s_bake" in built.stderr


# --- base: the folders users write -----------------------------------------------------

BASE_DOCKERFILE = PROJECT / "images/base/Dockerfile"


def oracle_run() -> str:
    """The base Dockerfile's Oracle RUN (the one that sets up TNS names and ODBC)."""
    return next(
        item.script
        for item in dockerfile.parse(BASE_DOCKERFILE.read_text())
        if item.keyword == "RUN" and "odbc_update_ini.sh" in item.script
    )


def tns_seed_steps() -> str:
    """The Oracle RUN's own commands that make the image's TNS folder and its seed."""
    script = oracle_run()
    first = 'mkdir -p "${ORACLE_HOME}/network/admin"'
    last = 'chmod 2775 "${HOME_TMP}/.oracle"'
    return script[script.index(first) : script.index(last) + len(last)]


def test_tns_admin_is_on_the_home_volume_seeded_from_the_image(engine, debian) -> None:
    # The Dockerfile's lines run as root at build (the platform's file stands in for
    # ORACLE_TNSNAMES_URL's download); the start-up copy puts the seed in the home; the
    # user adds an entry; a restart (the copy runs again) keeps it.
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; mkdir -p /opt/oracle/instantclient/network/admin; "
        "echo PLATFORM= > /opt/oracle/instantclient/network/admin/tnsnames.ora; "
        + tns_seed_steps()
        + "; mkdir -p /home/jovyan; chown 1000:100 /home/jovyan; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        f"{AS_JOVYAN} bash -c 'echo MINE= >> $TNS_ADMIN/tnsnames.ora' && echo written; "
        f"{AS_JOVYAN} bash /scripts/01-copy-tmp-home; "
        'cat "$TNS_ADMIN/tnsnames.ora"; stat -c "%u:%g %a" "$TNS_ADMIN"',
        {"01-copy-tmp-home": COPY_HOME},
        environment={
            "ORACLE_HOME": "/opt/oracle/instantclient",
            "TNS_ADMIN": dockerfile_env(BASE_DOCKERFILE, "TNS_ADMIN").replace(
                "${NB_USER}", "jovyan"
            ),
            "HOME_TMP": "/tmp_home/jovyan",
            "ORACLE_TNSNAMES_URL": "",
            "NB_USER": "jovyan",
            "NB_UID": "1000",
            "NB_GID": "100",
        },
    )
    assert outcome.exit_code == 0, outcome.output
    assert "written" in outcome.output
    # The platform's entries came from the image; the user's own survived the restart;
    # the folder in the home is the user's.
    assert outcome.output.splitlines()[-3:] == ["PLATFORM=", "MINE=", "1000:100 775"], (
        outcome.output
    )


def test_oracle_odbc_registers_whether_or_not_odbc_ini_exists_and_leaves_no_user_dsn() -> None:
    # odbc_update_ini.sh registers nothing (and exits 0) unless /etc/odbc.ini and
    # /etc/odbcinst.ini both exist, and writes $HOME/.odbc.ini. (Oracle's zip is not
    # downloaded here: the order of the Dockerfile's own commands is what is checked.)
    script = oracle_run()
    register = script.index("odbc_update_ini.sh")
    assert script.index("touch /etc/odbc.ini /etc/odbcinst.ini") < register
    assert 'HOME="${odbc_home}" "${ORACLE_HOME}/odbc_update_ini.sh"' in script
    assert register < script.index("grep -q '^\\[Oracle' /etc/odbcinst.ini")
    assert register < script.index('test ! -e "/home/${NB_USER}/.odbc.ini"')


def test_git_credential_cache_socket_is_off_the_home_volume() -> None:
    # GCM hands credential.cacheOptions to git credential-cache, whose socket defaults to
    # ~/.cache/git/credential/socket: on the home volume, where SMB/Azure Files cannot
    # hold a Unix socket. The base Dockerfile's own setting must name one on local disk.
    # (No git in the fixture images, so git itself is not run here.)
    run_step = next(
        item
        for item in dockerfile.parse(BASE_DOCKERFILE.read_text())
        if item.keyword == "RUN" and "credential.cacheOptions" in item.script
    )
    options = run_step.script.split("credential.cacheOptions", 1)[1].split('"')[1].split()
    assert options[options.index("--timeout") + 1] == "28800"
    socket = options[options.index("--socket") + 1]
    assert socket.startswith("/tmp/"), socket
    assert not socket.startswith("/home/")


def test_sas_finds_oracles_client_on_the_library_path() -> None:
    # sasor12 dlopens Oracle's client: the SAS images put base's ORACLE_HOME on
    # LD_LIBRARY_PATH (ldconfig is not enough for SAS).
    oracle_home = dockerfile_env(BASE_DOCKERFILE, "ORACLE_HOME")
    assert dockerfile_env(SAS_KERNEL_DOCKERFILE, "LD_LIBRARY_PATH") == "${ORACLE_HOME}"
    assert oracle_home == "/opt/oracle/instantclient"
