"""The image test suite (tests/) against images in the local engine: the work of
`nox -s test` (its flags: tasks/commands/test.py), and the image look-up dev shares."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

import docker.errors

from tasks.console import FAILURE, ZoneError, err, note
from tasks.docker import engine
from tasks.planning import plan, tags
from tasks.settings import Settings
from tasks.shared import progress, summary
from tasks.stack import bakefile
from tasks.stack.references import ImageRef

# JUnit XML, one file per image, when CI is set; ZONE_TEST_RESULTS moves the folder.
RESULTS = "test-results"


def select(
    settings: Settings,
    graph: bakefile.BakeGraph,
    images: list[str],
    changed: plan.Plan | None,
) -> list[str]:
    """The stages to test: those named, or (none named) every stage that has tests; with
    --changed (its plan given), only those the plan marks for test."""
    with_tests = plan.tested(settings, graph)
    if images:
        named = list(dict.fromkeys(name for image in images for name in graph.resolve(image)))
    else:
        named = list(with_tests)
    if changed is not None:
        named = [name for name in named if name in changed.test]
    untested = [name for name in named if name not in with_tests]
    if untested:
        raise ZoneError(
            f"{', '.join(untested)} has no tests: only served images (tests/general/) and "
            f"stages with a tests/<stage>/ folder do",
            hint=f"add tests/{untested[0]}/ with test_*.py files, or name another image",
        )
    return named


def require_local(ref: str, stage: str, pull: bool, command: str, quiet: bool = False) -> None:
    """The image is in the local engine (pulled first with --pull, its progress shown), or
    one clear message."""
    client = engine.client()
    try:
        client.images.get(ref)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise ZoneError(f"cannot look up {ref}: {exc.explanation or exc}") from None
    if pull:
        note(f"pulling {ref}")
        with progress.Display(quiet) as display:
            _pull(client, ref, display)
        return
    raise ZoneError(
        f"{ref} is not in the local Docker engine",
        hint=f"build it: nox -s bake -- {stage}  (same --repo; --extra-tag TAG for another tag), "
        f"or fetch it from the registry: nox -s {command} -- {stage} --pull",
    )


def _pull(client: docker.DockerClient, ref: str, display: progress.Display) -> None:
    """The engine's streamed pull, each message to the display. A failure the registry
    reports inside the stream (HTTP 200) is an error too, as the SDK's pull makes it."""
    parsed = ImageRef.parse(ref)
    transfer = display.transfer(parsed.familiar.rsplit("/", 1)[-1], "received")
    try:
        stream = client.api.pull(parsed.name, tag=parsed.tag or "latest", stream=True, decode=True)
        for message in stream:
            failure = message.get("error") or (message.get("errorDetail") or {}).get("message")
            if failure:
                raise ZoneError(f"cannot pull {ref}: {failure}")
            transfer.feed(message)
    except docker.errors.APIError as exc:
        raise ZoneError(f"cannot pull {ref}: {exc.explanation or exc}") from None
    transfer.finish()


def _results() -> str:
    return os.environ.get("ZONE_TEST_RESULTS") or RESULTS


def _pytest_argv(
    settings: Settings, suites: list[str], stage: str, ref: str, extra: tuple[str, ...]
) -> list[str]:
    argv = [sys.executable, "-m", "pytest", *suites, "--image", ref, "-p", "no:cacheprovider"]
    argv += ["--rootdir", str(settings.root), "-o", "testpaths="]
    if os.environ.get("CI"):
        argv.append(f"--junitxml={_results()}/{stage}.xml")
    return argv + list(extra)


def _stream(process: subprocess.Popen[str], label: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        err.out(f"{label} {line.rstrip()}", highlight=False)


def run(
    settings: Settings,
    graph: bakefile.BakeGraph,
    images: list[str],
    *,
    tag: str,
    changed: plan.Plan | None,
    pull: bool,
    pytest_args: tuple[str, ...],
    quiet: bool = False,
) -> int:
    stages = select(settings, graph, images, changed)
    if not stages:
        note("nothing to test: no stage with tests, or its tests, changed since the merge base")
        return 0
    refs = {stage: tags.image_refs(settings.registry, stage, [tag])[0] for stage in stages}
    for stage, ref in refs.items():
        require_local(ref, stage, pull, "test", quiet)
    suites = plan.tested(settings, graph)
    for stage in stages:
        missing = [folder for folder in suites[stage] if not (settings.root / folder).is_dir()]
        if missing:
            raise ZoneError(f"no image test suite: {settings.root / missing[0]} is missing")
    run_id = uuid.uuid4().hex[:12]
    note(f"testing {', '.join(refs.values())} (run {run_id})")
    # One pytest per image, side by side: each waits mostly on its own containers.
    processes = {
        stage: subprocess.Popen(
            _pytest_argv(settings, suites[stage], stage, ref, pytest_args),
            cwd=settings.root,
            # Each image's pytest cleans up its own run's containers, not its neighbour's.
            env={**os.environ, "ZONE_TEST_RUN": f"{run_id}-{stage}"},
            # Out of the terminal's process group: Ctrl-C reaches them once, from here.
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for stage, ref in refs.items()
    }
    readers = [
        threading.Thread(target=_stream, args=(process, f"[{stage}]"), daemon=True)
        for stage, process in processes.items()
    ]
    for reader in readers:
        reader.start()
    try:
        codes = {stage: process.wait() for stage, process in processes.items()}
    except KeyboardInterrupt:
        # pytest turns SIGINT into its teardown, which removes the run's containers.
        for process in processes.values():
            process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        raise
    for reader in readers:
        reader.join(timeout=10)
    failed = [stage for stage, code in codes.items() if code != 0]
    for stage in stages:
        err.print(f"{stage}: " + ("[bold red]failed[/]" if stage in failed else "[green]passed[/]"))
    summary.table(
        "Tested",
        ["image", "result"],
        [(refs[stage], "failed" if stage in failed else "passed") for stage in stages],
    )
    if os.environ.get("CI"):
        note(f"JUnit XML in {_results()}")
    if failed:
        raise ZoneError(f"image tests failed for {', '.join(failed)}", exit_code=FAILURE)
    return 0
