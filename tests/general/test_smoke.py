"""The quick check every served image must pass: `pytest -m smoke`."""

from __future__ import annotations

import re

import pytest
import requests

pytestmark = pytest.mark.smoke


def test_jupyterlab_page_is_served_under_the_prefix(lab) -> None:
    response = requests.get(f"{lab.url}/lab", timeout=30)
    assert response.status_code == 200
    assert "<title>JupyterLab</title>" in response.text
    # The page's own configuration says which base URL it was served under.
    config = re.search(r'"baseUrl":\s*"([^"]*)"', response.text)
    assert config, "no JupyterLab page configuration in the page"
    assert config.group(1) == lab.prefix + "/"


def test_api_status_answers(lab) -> None:
    response = requests.get(f"{lab.url}/api/status", timeout=30)
    assert response.status_code == 200
    assert "started" in response.json()


def test_python_kernel_runs_code(lab, kernel_output) -> None:
    assert kernel_output(lab, "python3", "print(6 * 7)").strip() == "42"
