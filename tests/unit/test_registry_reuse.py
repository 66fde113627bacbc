"""Build once reads the registry before building (issue 26): the pure decision (ghosttasks.decisions.registry_reuse)
and the manifest read (ghosttasks.execution.registry_api) against httpx's transport, by exact results."""

import httpx
import pytest

from ghosttasks.decisions.registry_reuse import Manifest, decide, manifest_url, push_at_once, tags_url
from ghosttasks.execution import registry_api

API, WEB = "127.0.0.20:5000/lab/ghostworks-api", "127.0.0.20:5000/lab/ghostworks-web"
REPOSITORIES = {"api": API, "web": WEB}
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("registry", "name", "url"),
    [
        ("127.0.0.20:5000/lab", "ghostworks-api", "http://127.0.0.20:5000/v2/lab/ghostworks-api/manifests/v1.2.0"),
        ("localhost:5000", "api", "http://localhost:5000/v2/api/manifests/v1.2.0"),
        ("registry.example.com/a/b", "api", "https://registry.example.com/v2/a/b/api/manifests/v1.2.0"),
        ("10.0.0.5:5000", "api", "https://10.0.0.5:5000/v2/api/manifests/v1.2.0"),
    ],
)
def test_manifest_url_speaks_http_only_to_a_loopback_registry(registry, name, url):
    assert manifest_url(registry, name, "v1.2.0") == url


def test_every_image_in_the_registry_is_taken_as_it_is():
    shipping = decide(REPOSITORIES, "v1.2.0", {"api": Manifest(A), "web": Manifest(B)}, {})
    assert (shipping.push, shipping.pinned) == (False, {"api": f"{API}@{A}", "web": f"{WEB}@{B}"})
    assert shipping.reason == "v1.2.0 is in the registry already: not built or pushed again"


def test_the_recorded_digests_agreeing_it_is_taken_too():
    recorded = {"api": f"{API}@{A}", "web": f"{WEB}@{B}"}
    assert decide(REPOSITORIES, "v1.2.0", {"api": Manifest(A), "web": Manifest(B)}, recorded).pinned == recorded


@pytest.mark.parametrize(
    ("found", "recorded", "reason"),
    [
        ({"api": Manifest(A), "web": Manifest()}, {}, f"{WEB}:v1.2.0 is not in the registry"),
        (
            {"api": Manifest(problem="HTTP 500"), "web": Manifest(B)},
            {},
            f"{API}:v1.2.0: the registry's manifest could not be read (HTTP 500)",
        ),
        ({"api": Manifest(A)}, {}, f"{WEB}:v1.2.0: the registry's manifest could not be read (not read)"),
        (
            {"api": Manifest(A), "web": Manifest(B)},
            {"web": f"{WEB}@{A}"},
            f"the registry's {WEB}:v1.2.0 is {B}, the state recorded {WEB}@{A}",
        ),
    ],
)
def test_built_and_pushed_when_an_image_is_missing_unreadable_or_not_what_was_recorded(found, recorded, reason):
    shipping = decide(REPOSITORIES, "v1.2.0", found, recorded)
    assert (shipping.push, shipping.pinned, shipping.reason) == (True, {}, reason)


URL = "http://127.0.0.20:5000/v2/lab/ghostworks-api/manifests/v1.2.0"


def read(handler) -> Manifest:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return registry_api.manifest(URL, username="ghost", password="secret", client=client, timeout=5)


def test_the_digest_comes_from_a_head_with_basic_authentication():
    seen = []

    def handler(request):
        seen.append((request.method, request.headers.get("authorization"), request.headers["accept"]))
        return httpx.Response(200, headers={"Docker-Content-Digest": A})

    assert read(handler) == Manifest(A)
    assert seen[0][:2] == ("HEAD", "Basic Z2hvc3Q6c2VjcmV0")
    assert "application/vnd.docker.distribution.manifest.v2+json" in seen[0][2]


def test_a_bearer_challenge_gets_its_token_from_the_realm():
    def handler(request):
        if request.url.path == "/token":
            assert dict(request.url.params) == {"service": "reg", "scope": "repository:lab/ghostworks-api:pull"}
            return httpx.Response(200, json={"token": "t0k"})
        if request.headers.get("authorization") == "Bearer t0k":
            return httpx.Response(200, headers={"Docker-Content-Digest": B})
        challenge = 'Bearer realm="http://auth.test/token",service="reg",scope="repository:lab/ghostworks-api:pull"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    assert read(handler) == Manifest(B)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(404), Manifest()),
        (httpx.Response(401), Manifest(problem="HTTP 401")),
        (httpx.Response(200), Manifest(problem="no sha256 digest in its answer ('')")),
        (
            httpx.Response(200, headers={"Docker-Content-Digest": "md5:x"}),
            Manifest(problem="no sha256 digest in its answer ('md5:x')"),
        ),
    ],
)
def test_absent_is_absent_and_anything_else_unreadable(response, expected):
    assert read(lambda request: response) == expected


def test_a_registry_that_cannot_be_reached_is_a_problem_said():
    def handler(request):
        raise httpx.ConnectError("connection refused")

    assert read(handler) == Manifest(problem="ConnectError: connection refused")


def test_tags_url_is_beside_the_manifests():
    assert tags_url("127.0.0.20:5000/lab", "ghostworks-api") == "http://127.0.0.20:5000/v2/lab/ghostworks-api/tags/list"


@pytest.mark.parametrize(
    ("known", "at_once"),
    [
        ({"api": True, "web": True}, True),
        ({"api": True, "web": False}, False),  # web's repository is new: the first push brings the layers
        ({"api": True, "web": None}, False),
        ({}, False),
    ],
)
def test_pushed_at_once_only_into_repositories_that_hold_the_shared_layers(known, at_once):
    assert push_at_once(known) is at_once


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json={"name": "lab/ghostworks-api", "tags": ["v1.0.0"]}), True),
        (httpx.Response(200, json={"name": "lab/ghostworks-api", "tags": None}), False),
        (httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]}), False),
        (httpx.Response(500), None),
        (httpx.Response(200, text="not json"), None),
    ],
)
def test_a_repository_with_a_tag_is_known(response, expected):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    url = "http://127.0.0.20:5000/v2/lab/ghostworks-api/tags/list"
    assert registry_api.has_tags(url, username="ghost", password="secret", client=client, timeout=5) is expected


def test_the_registry_reads_carry_the_login_and_ask_for_each_image(monkeypatch):
    """build once's two reads (is the version there? does the repository hold anything?) ask the registry's URL of
    every per-colour image with the inventory's username and the run's password, within 10 s each."""
    from ghosttasks import testing
    from ghosttasks.flows.steps import build_once

    asked = []

    def manifest(url, *, username, password, client, timeout):
        asked.append(("manifest", url, username, password, timeout))
        return Manifest(A if "ghostworks-api" in url else B)

    def has_tags(url, *, username, password, client, timeout):
        asked.append(("tags", url, username, password, timeout))
        return "ghostworks-api" in url

    monkeypatch.setattr(registry_api, "manifest", manifest)
    monkeypatch.setattr(registry_api, "has_tags", has_tags)
    executor = testing.ScriptedExecutor(testing.prod()).on_probe("registry.internal", lambda check: check())
    run = testing.a_run(executor)
    shipping = build_once.in_registry(run, "v1.2.0", "secret", {})
    known = build_once.repositories_known(run, "secret")
    registry = "registry.internal.ghostworks.dev:5000"
    repository = f"{registry}/ghostworks"
    assert (shipping.push, shipping.pinned) == (
        False,
        {"api": f"{repository}/ghostworks-api@{A}", "web": f"{repository}/ghostworks-web@{B}"},
    )
    assert known == {"api": True, "web": False}
    assert sorted(asked) == [
        ("manifest", f"https://{registry}/v2/ghostworks/ghostworks-api/manifests/v1.2.0", "deploy", "secret", 10.0),
        ("manifest", f"https://{registry}/v2/ghostworks/ghostworks-web/manifests/v1.2.0", "deploy", "secret", 10.0),
        ("tags", f"https://{registry}/v2/ghostworks/ghostworks-api/tags/list", "deploy", "secret", 10.0),
        ("tags", f"https://{registry}/v2/ghostworks/ghostworks-web/tags/list", "deploy", "secret", 10.0),
    ]
