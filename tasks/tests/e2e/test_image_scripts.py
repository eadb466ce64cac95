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

from tasks import dockerfile
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
    start) /opt/venv/bin/python /tmp/studio.py >/tmp/studio.log 2>&1 & ;;
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
                  "cookies": r.msg.get_all("Set-Cookie")}))
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


# --- mid: RStudio through jupyter-rsession-proxy -------------------------------------

MID_DOCKERFILE = PROJECT / "images/mid/Dockerfile"


def dockerfile_arg(path: Path, name: str) -> str:
    """The default of `ARG name=...` in a real Dockerfile (the pin the image uses)."""
    for line in path.read_text().splitlines():
        if line.startswith(f"ARG {name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no ARG {name} in {path}")


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
                  "launcher": config["launcher_entry"]}))
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
        environment={"NB_PREFIX": "/notebook/team-a/server-b"},
        user="root",
    )
    assert outcome.exit_code == 0, outcome.output
    out = json.loads(outcome.output.strip().splitlines()[-1])
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
 /usr/local/SASHome/studioconfig && for f in sasauth elssrv sasperm sas; do \\
 echo "$f" > $bin/$f && chmod 0755 $bin/$f; done && echo studio > \\
 /usr/local/SASHome/studioconfig/sasstudio.sh
"""


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


@pytest.mark.parametrize("with_sas", [True, False])
def test_sas_kernel_builds_with_or_without_the_sas_image(
    engine, debian, test_images, tmp_path, with_sas: bool
) -> None:
    sas_image = ""
    if with_sas:
        sas_image = f"{test_images}/sas-install:fixture"
        built = subprocess.run(
            ["docker", "build", "-q", "--label", "io.zone.test=1", "-t", sas_image, "-"],
            input=SAS_INSTALL,
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
        for helper in ("sasauth", "elssrv", "sasperm"):
            assert f"0:0 4755 {bin_dir}/{helper}" in lines, lines
        assert f"1000:1002 755 {bin_dir}/sas" in lines
        assert "1000:1002 644 /usr/local/SASHome/studioconfig/sasstudio.sh" in lines
    else:
        assert not any(line.startswith("1000:1002") for line in lines[1:] if " /usr/" in line)
    # jovyan can sign in to SAS Studio (PAM): a password is set.
    shadow = run(engine, tag, "getent shadow jovyan | cut -d: -f2", {}, user="root")
    assert shadow.output.strip() not in ("", "!", "*"), shadow.output


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


def tns_admin_steps() -> str:
    """The base Dockerfile's own commands that make TNS_ADMIN, from its Oracle RUN."""
    run_step = next(
        item
        for item in dockerfile.parse(BASE_DOCKERFILE.read_text())
        if item.keyword == "RUN" and "TNS_ADMIN" in item.script
    )
    script = run_step.script
    start = script.index('mkdir -p "${TNS_ADMIN}"')
    end = script.index('chmod 2775 "${TNS_ADMIN}"') + len('chmod 2775 "${TNS_ADMIN}"')
    return script[start:end]


def test_tns_admin_is_the_users_to_write(engine, debian) -> None:
    # The Dockerfile's lines run as root at build (no tnsnames URL given: the platform's
    # hook is skipped); then the user adds a tnsnames.ora, as the docs say to.
    outcome = run(
        engine,
        debian,
        SETUP_USER + "; " + tns_admin_steps() + "; "
        f"{AS_JOVYAN} bash -c 'echo ORCL= > $TNS_ADMIN/tnsnames.ora' && echo written; "
        'stat -c "%u:%g %a" "$TNS_ADMIN" "$TNS_ADMIN/tnsnames.ora"',
        {},
        environment={
            "TNS_ADMIN": "/opt/oracle/instantclient/network/admin",
            "ORACLE_TNSNAMES_URL": "",
            "NB_UID": "1000",
            "NB_GID": "100",
        },
    )
    assert outcome.exit_code == 0, outcome.output
    assert "written" in outcome.output
    assert outcome.output.splitlines()[-2:] == ["1000:100 2775", "1000:100 644"], outcome.output
