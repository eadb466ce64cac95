"""sas: SAS Studio, served through jupyter-server-proxy under $NB_PREFIX/sasstudio."""

from __future__ import annotations

import requests


def test_sas_studio_proxy_entry_is_registered(lab) -> None:
    response = requests.get(f"{lab.url}/server-proxy/servers-info", timeout=30)
    assert response.status_code == 200
    names = {entry["name"] for entry in response.json()["server_processes"]}
    assert "sasstudio" in names, f"proxy entries: {sorted(names)}"


def test_sas_kernel_is_installed(lab) -> None:
    response = requests.get(f"{lab.url}/api/kernelspecs", timeout=30)
    assert "sas" in response.json()["kernelspecs"]


def test_sas_studio_stays_under_the_prefix(lab, sas_installed) -> None:
    # The first visit starts SAS Studio (minutes); its redirects must keep the browser
    # under $NB_PREFIX/sasstudio (the proxy entry rewrites them).
    response = requests.get(f"{lab.url}/sasstudio/SASStudio/", timeout=300)
    assert response.status_code == 200, response.text[:500]
    for hop in [*response.history, response]:
        assert hop.url.startswith(f"{lab.url}/sasstudio/"), [h.url for h in response.history]
