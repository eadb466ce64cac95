"""A blob from a registry by its digest, over the registry's HTTP API (the OCI
distribution spec's `GET /v2/NAME/blobs/DIGEST`).

For what `docker buildx imagetools` does not give whole: its `.Image` is the OCI image
config, which has no `Shell` (a Docker field of the config blob; the OCI ImageConfig of
opencontainers/image-spec specs-go/v1/config.go has User, Env, ... and no Shell, and
`imagetools inspect --format '{{json .Image}}'` of an image built with SHELL shows none:
tasks/tests/engine/test_upstream_config.py reads one). Anonymous, as public
upstream images are read: a registry that answers 401 with a Bearer challenge gives a
token from the realm it names (Docker's token authentication, which quay.io and Docker
Hub follow). Bounded in time and size (tasks.pinning.fetch); the body is checked against the
digest, so what is returned is exactly what the digest names.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlencode

from tasks.pinning import fetch
from tasks.stack.references import ImageRef

SECONDS = 20.0  # one request in all
LIMIT = 4 * 10**6  # bytes: an image config is tens of kB (its history included)
# Where Docker Hub's registry API answers (docker/hub-feedback#1253: "The registry itself
# is at https://registry-1.docker.io"; Docker's docs list it among Hub's endpoints). The
# token flow (401 with a Bearer realm, then the token) is docs.docker.com/reference/api/
# registry/auth; it is untested here, where no public registry is reachable.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
_LOOPBACK = re.compile(r"(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def blob(ref: ImageRef, digest: str) -> bytes:
    """The blob `digest` of `ref`'s repository; fetch.Unanswered says why not."""
    api = _API_HOSTS.get(ref.host, ref.host)
    name = ref.path
    if ref.host == "docker.io" and "/" not in name:
        name = f"library/{name}"  # Docker Hub's official images
    # Docker itself speaks plain HTTP to a loopback registry (an insecure one by default).
    scheme = "http" if _LOOPBACK.fullmatch(api) else "https"
    url = f"{scheme}://{api}/v2/{name}/blobs/{digest}"
    answer = fetch.request("GET", url, SECONDS, limit=LIMIT)
    if answer.status == 401:
        token = _token(answer.headers.get("www-authenticate", ""), name)
        headers = {"Authorization": f"Bearer {token}"}
        answer = fetch.request("GET", url, SECONDS, headers, limit=LIMIT)
    if answer.status != 200:
        raise fetch.Unanswered(f"{api} answered {answer.status} for blob {digest}")
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or hashlib.sha256(answer.body).hexdigest() != expected:
        raise fetch.Unanswered(f"{api} sent a blob that is not {digest}")
    return answer.body


def _token(challenge: str, name: str) -> str:
    """An anonymous pull token from the realm of a `Bearer realm=...,service=...` challenge."""
    if not challenge.lower().startswith("bearer "):
        raise fetch.Unanswered("the registry asks for a login (read anonymously here)")
    fields = dict(_CHALLENGE.findall(challenge))
    if not fields.get("realm", "").startswith("https://"):
        raise fetch.Unanswered("the registry names no https token service")
    query = {"service": fields.get("service", ""), "scope": f"repository:{name}:pull"}
    answer = fetch.get(f"{fields['realm']}?{urlencode(query)}", SECONDS)
    document = answer.json() if answer.status == 200 else None
    token = (
        document.get("token") or document.get("access_token")
        if isinstance(document, dict)
        else None
    )
    if not isinstance(token, str) or not token:
        raise fetch.Unanswered("the registry gave no anonymous token (the image needs a login)")
    return token
