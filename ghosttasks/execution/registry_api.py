"""The registry's HTTP API (Docker Registry v2, OCI distribution): the manifest digest a tag names, read with one
HEAD request (ghosttasks.decisions.registry_reuse decides what it means). Basic authentication, or the token a
registry's Bearer challenge names (fetched with the same credentials)."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from ghosttasks.commands.docker_images import DIGEST_RE
from ghosttasks.decisions.registry_reuse import MANIFEST_TYPES, Manifest

_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


def manifest(url: str, *, username: str | None, password: str | None, client: Any = None, timeout: float) -> Manifest:
    """The digest of the manifest at `url` (registry_reuse.manifest_url); 404: absent; anything else: a problem.
    `client`: the run's httpx client for that URL (through SSH), None: one of its own, straight from here."""
    import httpx

    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    try:
        answer = _ask("HEAD", url, headers, username, password, client, timeout)
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return Manifest(problem=f"{type(exc).__name__}: {exc}")
    if answer.status_code == 404:
        return Manifest()
    if answer.status_code != 200:
        return Manifest(problem=f"HTTP {answer.status_code}")
    digest = answer.headers.get("docker-content-digest", "")
    if not DIGEST_RE.match(digest):
        return Manifest(problem=f"no sha256 digest in its answer ({digest[:80]!r})")
    return Manifest(digest)


def has_tags(
    url: str, *, username: str | None, password: str | None, client: Any = None, timeout: float
) -> bool | None:
    """Whether the repository at `url` (registry_reuse.tags_url) holds any tag: True, False (404, or no tag),
    None when that could not be read."""
    import httpx

    try:
        answer = _ask("GET", url, {}, username, password, client, timeout)
        if answer.status_code == 404:
            return False
        body = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, OSError, ValueError):  # not known: the caller pushes one image after the other
        return None
    return bool(body.get("tags")) if isinstance(body, dict) else None


def _ask(
    method: str,
    url: str,
    headers: dict[str, str],
    username: str | None,
    password: str | None,
    client: Any,
    timeout: float,
) -> Any:
    """One request with basic authentication, or with the token a Bearer challenge names."""
    import httpx

    from ghosttasks.execution import trust

    auth = (username, password or "") if username else None
    with httpx.Client(verify=trust.context()) if client is None else contextlib.nullcontext(client) as http:
        answer = http.request(method, url, headers=headers, auth=auth, timeout=timeout)
        challenge = answer.headers.get("www-authenticate", "")
        if answer.status_code == 401 and challenge.lower().startswith("bearer "):
            token = _token(http, challenge, auth, timeout)
            answer = http.request(method, url, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=timeout)
        return answer


def _token(http: Any, challenge: str, auth: tuple[str, str] | None, timeout: float) -> str:
    """The Bearer token the challenge's realm gives for its service and scope (with the credentials, if any)."""
    fields = dict(_CHALLENGE_RE.findall(challenge))
    realm = fields.pop("realm", "")
    if not realm:
        raise ValueError(f"a Bearer challenge without a realm: {challenge[:120]!r}")
    answer = http.get(realm, params=fields, auth=auth, timeout=timeout)
    answer.raise_for_status()
    body = answer.json()
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not token:
        raise ValueError("the token service answered no token")
    return str(token)
