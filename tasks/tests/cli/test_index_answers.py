"""`nox -s pins` against an index that answers badly (tasks/tests/fake_index.py on
127.0.0.1): slow, huge or malformed. Each is one "could not ask" that says why, within
the request's deadline and the body's limit, never a traceback and never a hang."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.pinning import fetch, pins, pins_check
from tasks.tests.fake_index import FakeIndex
from tasks.tests.support import PROJECT, clean_env, make_stack, write

MALFORMED = {
    "number": b'{"versions": 5}',
    "array": b"[1, 2]",
    "numbers": b'{"versions": [1, 2]}',
    "files-number": b'{"files": 5}',
    "file-number": b'{"files": [5]}',
    "filename-number": b'{"files": [{"filename": 5}]}',
    "html": b"<html>an error page</html>",
    "conda-attrs": b'{"files": [{"version": "1.0", "attrs": 5}]}',
    "conda-version": b'{"files": [{"version": 4.2, "attrs": {"subdir": "noarch"}}]}',
    "conda-labels": b'{"files": [{"version": "4.2", "labels": "main"}]}',
    "openvsx-version": b'{"version": 1.114}',
    "wheel-without-version": b'{"files": [{"filename": "x.whl"}]}',
}
DOCKERFILE = (
    "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n# pin: pypi sas_kernel; evidence: test\n"
    "ARG SAS_KERNEL_VERSION=2.4.13\n"
    'RUN pip install --no-cache-dir "sas_kernel==${SAS_KERNEL_VERSION}"\n'
)
# The run's peak resident set, measured where it runs (the suite's other children must
# not count), printed as the last line of stderr.
MEASURED = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "file=sys.stderr); sys.exit(code)"
)


@pytest.fixture(scope="module")
def index() -> Iterator[FakeIndex]:
    with FakeIndex(MALFORMED) as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_stack(tmp_path_factory.mktemp("answers") / "stack")
    write(repo, "images/sas_kernel/Dockerfile", DOCKERFILE)
    return repo


def pins_against(stack: Path, url: str, timeout: str = "2") -> tuple[int, str, int]:
    """`pins --kind pypi` with the index at `url`: exit code, stderr, peak memory (kB)."""
    env = {**clean_env(ZONE_PYPI_URL=url, ZONE_PINS_TIMEOUT=timeout), "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-c", MEASURED, sys.executable, "-m", "tasks", "pins"]
    # The safety timeout only keeps a regression from hanging the suite: a run takes seconds.
    result = subprocess.run([*command, "--kind", "pypi"], cwd=stack, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    *lines, peak = result.stderr.strip().splitlines()
    assert peak.startswith("peak-kb "), result.stderr
    return result.returncode, "\n".join(lines), int(peak.split()[1])


def one_could_not_ask(code: int, stderr: str, *fragments: str) -> None:
    assert code == 1, stderr
    assert "Traceback" not in stderr
    said = [line for line in stderr.splitlines() if line.strip().startswith("could not ask")]
    assert len(said) == 1, stderr
    for fragment in fragments:
        assert fragment in said[0], said[0]
    assert "error: of 1 pins, 1 could not be checked" in stderr


@pytest.mark.parametrize("mode", ["slow", "slow-headers"])
def test_a_server_sending_a_byte_a_second_meets_the_deadline(stack, index, mode) -> None:
    """Each read is quick: only a deadline for the whole request ends it."""
    code, stderr, _ = pins_against(stack, f"{index.url}/{mode}")
    one_could_not_ask(code, stderr, f"{index.url[7:]} did not answer within 2s")


@pytest.mark.parametrize("mode", ["huge", "huge-declared"])
def test_a_huge_answer_is_read_up_to_the_limit_only(stack, index, mode) -> None:
    """300 MB, with or without a Content-Length: the runner stays small (it took 4.3 GB)."""
    code, stderr, peak_kb = pins_against(stack, f"{index.url}/{mode}", timeout="120")
    one_could_not_ask(code, stderr, f"sent more than {fetch.MAX_BODY:,} bytes")
    assert peak_kb < 250 * 1024, f"peak memory {peak_kb} kB"


def test_an_answer_that_is_not_the_apis_json_is_one_message(stack, index) -> None:
    code, stderr, _ = pins_against(stack, f"{index.url}/number")
    one_could_not_ask(
        code, stderr, "did not answer in PEP 691 JSON: its 'versions' is an integer, "
        "not an array",
    )  # fmt: skip


def pin(kind: str, name: str, value: str) -> pins.Pin:
    return pins.Pin(kind, name, "X", value, "test", "images/x/Dockerfile", 1, ())


def answer(index: FakeIndex, mode: str, chosen: pins.Pin) -> tuple[str, str]:
    url = f"{index.url}/{mode}"
    services = pins_check.Services(pypi=url, anaconda=url, openvsx=url, timeout=10)
    (outcome,) = pins_check.check_all([chosen], [chosen], services)
    return outcome.status, outcome.detail


PYPI = pin("pypi", "sas_kernel", "2.4.13")
CONDA = pin("conda", "jupyterlab", "4.2")
OPENVSX = pin("openvsx", "quarto.quarto", "1.114.0")


@pytest.mark.parametrize(
    ("mode", "chosen", "expected"),
    [
        ("number", PYPI, "its 'versions' is an integer, not an array"),
        ("array", PYPI, "the answer is an array, not an object"),
        ("numbers", PYPI, "its 'versions'[0] is an integer, not a string"),
        ("files-number", PYPI, "its 'files' is an integer, not an array"),
        ("file-number", PYPI, "its 'files'[0] is an integer, not an object"),
        ("filename-number", PYPI, "its 'files'[0]'s 'filename' is an integer, not a string"),
        ("html", PYPI, "did not answer in JSON"),
        ("array", CONDA, "the answer is an array, not an object"),
        ("numbers", CONDA, "its 'versions'[0] is an integer, not a string"),
        ("conda-attrs", CONDA, "its 'files'[0]'s 'attrs' is an integer, not an object"),
        ("conda-version", CONDA, "its 'files'[0]'s 'version' is a number, not a string"),
        ("conda-labels", CONDA, "its 'files'[0]'s 'labels' is a string, not an array"),
        ("array", OPENVSX, "the answer is an array, not an object"),
        ("openvsx-version", OPENVSX, "the answer's 'version' is a number, not a string"),
    ],
)
def test_every_field_of_an_answer_is_checked_for_its_type(index, mode, chosen, expected):
    """Each was a TypeError or AttributeError: now "could not ask", naming the field."""
    status, detail = answer(index, mode, chosen)
    assert status == "could not ask"
    assert expected in detail, detail


def test_a_wheel_name_without_a_version_is_no_version(index) -> None:
    """`x.whl` was an IndexError: a file name that names no version lists none."""
    assert answer(index, "wheel-without-version", PYPI) == (
        "missing",
        "sas_kernel has no release 2.4.13 (latest: none)",
    )
