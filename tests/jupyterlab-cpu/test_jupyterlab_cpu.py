"""jupyterlab-cpu: the everyday image's languages and VS Code."""

from __future__ import annotations

import requests


def _kernel_names(lab) -> set[str]:
    response = requests.get(f"{lab.url}/api/kernelspecs", timeout=30)
    assert response.status_code == 200
    return set(response.json()["kernelspecs"])


def test_r_julia_and_sas_kernels_are_installed(lab) -> None:
    names = _kernel_names(lab)
    assert "ir" in names, f"no R kernel in {sorted(names)}"
    assert any(name.startswith("julia") for name in names), f"no Julia kernel in {sorted(names)}"
    assert "sas" in names, f"no SAS kernel in {sorted(names)}"


def test_an_r_cell_runs(lab, kernel_output) -> None:
    assert kernel_output(lab, "ir", "cat(6 * 7)").strip() == "42"


def test_vscode_answers_under_the_prefix(lab) -> None:
    # jupyter-server-proxy starts VS Code on the first request and waits for it.
    response = requests.get(f"{lab.url}/vscode/", timeout=90)
    assert response.status_code == 200, response.text[:500]
    assert response.url.startswith(f"{lab.url}/vscode/")


def test_saspy_reaches_sas(lab, kernel_output, sas_installed) -> None:
    # saspy (what the SAS kernel runs on) starts the SAS installed in the image.
    code = "import saspy; s = saspy.SASsession(); print(s.symget('SYSVER')); s.endsas()"
    assert kernel_output(lab, "python3", code).strip().splitlines()[-1].startswith("9.")
