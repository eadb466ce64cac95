"""What a user sees, in headless Chromium: the lab under $NB_PREFIX works, a notebook runs a
cell, and each app that jupyter-server-proxy serves stays under $NB_PREFIX.

A failing test leaves a screenshot of the page beside the JUnit report (tests/conftest.py).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import chromium
import pytest
import requests
from conftest import api_session
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

LAB_WITHIN = 60  # seconds for the lab to show its launcher
# Seconds for a new notebook to show, its kernel to be idle, and its output: the server
# writes the file and starts the kernel, slow on a busy machine.
NOTEBOOK_WITHIN = 120
QUIET = 1.5  # seconds without a new request: the page has settled
SETTLE_WITHIN = 20
CODE, OUTPUT = "print(6 * 7)", "42"
# What a page cannot work without (Chrome's resource types); an API call may answer 404.
PAGE_PARTS = ("Document", "Script", "Stylesheet")
KERNEL_STATUS = ".jp-StatusBar-Widget"  # "Python 3 (ipykernel) | Idle"
DIALOG = ".jp-Dialog-content"  # e.g. "Error Starting Kernel"


def _wait(browser, recorder: chromium.Recorder, seconds: float, condition, what: str):
    """What `condition` found; a failure as soon as a part of the page failed to load and
    the page has settled (it cannot come then: no waiting out the rest of `seconds`)."""

    def found_or_broken(driver):
        try:
            found = condition(driver)
        except (NoSuchElementException, StaleElementReferenceException):
            found = False
        if found or recorder.quiet_for() < QUIET:
            return found
        return _failed_parts(recorder.so_far())

    waited = ""
    try:
        found = WebDriverWait(browser, seconds).until(found_or_broken)
        if not isinstance(found, list):
            return found
    except WebDriverException:  # a timeout, or the page went away
        waited = f" within {seconds}s"
    failed = _failed_parts(recorder.so_far())
    why = f"; parts of the page failed to load: {_listed(failed)}" if failed else ""
    pytest.fail(f"{what}: not there{waited} at {browser.current_url}{why}")


def _open(browser, url: str) -> None:
    try:
        browser.get(url)
    except WebDriverException as exc:
        pytest.fail(f"{url} did not load ({exc.msg})")


def _settled(recorder: chromium.Recorder) -> list[chromium.Request]:
    return recorder.settle(QUIET, SETTLE_WITHIN)


def _failed_parts(made: list[chromium.Request]) -> list[chromium.Request]:
    return [r for r in made if r.kind in PAGE_PARTS and r.status and r.status >= 400]


def _listed(made: list[chromium.Request]) -> str:
    return ", ".join(f"{r.kind} {r.url} ({r.status or 'no answer'})" for r in made)


def _stays_under(lab, page_url: str, browser, made: list[chromium.Request]) -> None:
    """The browser ended under `page_url`; every request stayed under $NB_PREFIX; the page,
    its scripts and its style sheets all loaded."""
    # The document's own address: Chromium's error page for a site that did not answer is
    # chrome-error://, while current_url still names the site.
    location = browser.execute_script("return window.location.href")
    assert location.startswith(page_url), f"the browser ended at {location}, outside {page_url}"
    escaped = chromium.outside(lab.url, made)
    assert not escaped, f"requests left {lab.prefix}: {_listed(escaped)}"
    failed = _failed_parts(made)
    assert not failed, f"parts of the page failed to load: {_listed(failed)}"


def _python_display_name(lab) -> str:
    specs = requests.get(f"{lab.url}/api/kernelspecs", timeout=30).json()["kernelspecs"]
    assert "python3" in specs, f"no python3 kernel in {sorted(specs)}"
    return specs["python3"]["spec"]["display_name"]


def test_lab_shows_its_launcher_and_a_notebook_runs_a_cell(browser, lab) -> None:
    card = f'.jp-LauncherCard[data-category="Notebook"][title="{_python_display_name(lab)}"]'
    recorder = chromium.Recorder(browser)
    # ?reset: the launcher, whatever an earlier visit left open in the workspace.
    _open(browser, f"{lab.url}/lab?reset")
    launcher = _wait(
        browser,
        recorder,
        LAB_WITHIN,
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, card)),
        "the launcher's Python notebook card",
    )
    _stays_under(lab, f"{lab.url}/lab", browser, _settled(recorder))
    launcher.click()
    notebook = None
    try:
        editor = _wait(
            browser,
            recorder,
            NOTEBOOK_WITHIN,
            expected_conditions.element_to_be_clickable(
                (By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell .cm-content")
            ),
            "a new notebook's first cell",
        )
        notebook = unquote(urlsplit(browser.current_url).path.split("/lab/tree/", 1)[-1])
        # A cell run before the kernel is connected is dropped: wait as a user would, for
        # the kernel to be idle or the lab to say it failed.
        shown = _wait(
            browser,
            recorder,
            NOTEBOOK_WITHIN,
            expected_conditions.any_of(
                expected_conditions.text_to_be_present_in_element(
                    (By.CSS_SELECTOR, KERNEL_STATUS), "| Idle"
                ),
                expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, DIALOG)),
            ),
            "the notebook's kernel, idle",
        )
        if shown is not True:
            pytest.fail(f"the lab shows a dialog instead of an idle kernel: {shown.text!r}")
        editor.click()
        ActionChains(browser).send_keys(CODE).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(
            Keys.SHIFT
        ).perform()
        _wait(
            browser,
            recorder,
            NOTEBOOK_WITHIN,
            expected_conditions.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".jp-NotebookPanel .jp-OutputArea-output"), OUTPUT
            ),
            f"the output {OUTPUT} of {CODE}",
        )
        output = browser.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-OutputArea-output")
        assert output.text.strip() == OUTPUT
        _stays_under(lab, f"{lab.url}/lab", browser, _settled(recorder))
    finally:
        _remove_notebook(lab, notebook)


def _remove_notebook(lab, path: str | None) -> None:
    """The shared server goes on serving other tests: stop the kernel, delete the file."""
    if not path:
        return
    session = api_session(lab)
    for running in session.get(f"{lab.url}/api/sessions", timeout=30).json():
        if running["path"] == path:
            session.delete(f"{lab.url}/api/sessions/{running['id']}", timeout=30)
    session.delete(f"{lab.url}/api/contents/{path}", timeout=30)


def _proxied_apps(lab) -> dict[str, str]:
    """App name -> the path it is served at, as jupyter-server-proxy lists them."""
    response = requests.get(f"{lab.url}/server-proxy/servers-info", timeout=30)
    assert response.status_code == 200, (
        f"jupyter-server-proxy's servers-info: {response.status_code}"
    )
    apps = {}
    for entry in response.json()["server_processes"]:
        path = (entry.get("launcher_entry") or {}).get("path_info") or f"{entry['name']}/"
        apps[entry["name"]] = path
    return apps


def test_each_proxied_app_stays_under_the_prefix(browser, lab) -> None:
    apps = _proxied_apps(lab)
    if not apps:
        pytest.skip("jupyter-server-proxy serves no app in this image")
    for name, path in sorted(apps.items()):
        recorder = chromium.Recorder(browser)
        _open(browser, f"{lab.url}/{path}")
        made = _settled(recorder)
        assert any(r.kind == "Document" for r in made), f"{name}: no page at {lab.url}/{path}"
        _stays_under(lab, f"{lab.url}/{name}/", browser, made)
