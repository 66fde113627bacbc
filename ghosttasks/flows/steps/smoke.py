"""Smoke tests (runbook "Integration tests"): auth flow, artifact CRUD, tenant isolation, latency."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.decisions.percentiles import p95
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import trust
from ghosttasks.execution.run import Run

#: Seconds per smoke request.
REQUEST_TIMEOUT = 10.0


@dataclass
class Api:
    """The api under test: paths relative to its base URL, sent with the run's client for it (direct or SSH)."""

    client: Any
    base: str

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, self.base + path, timeout=REQUEST_TIMEOUT, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


@dataclass
class SmokeReport:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    p95: float | None = None


def smoke(run: Run, health_url: str, *, requests: int | None = None) -> SmokeReport:
    """Auth flow, artifact CRUD, tenant isolation and a small latency benchmark against one api."""
    settings = run.env.smoke
    base = health_url.split("/api/", 1)[0]
    if not settings.users:
        run.out.warn("no smoke users in the inventory (smoke.users): only health was checked")
        return SmokeReport()
    count = requests or settings.latency_requests
    description = (
        f"smoke tests against {base} {way(run.env, base)}: auth flow, artifact CRUD, tenant isolation, "
        f"{count} timed requests"
    )
    report = run.executor.probe(description, lambda: run_smoke(run, base, count), assume=SmokeReport(["dry run"]))
    for name in report.passed:
        run.out.ok(f"smoke: {name}")
    for name in report.failed:
        run.out.fail(f"smoke: {name}")
    if report.failed:
        raise OperationFailed(f"smoke tests failed against {base}: {'; '.join(report.failed)}")
    return report


def run_smoke(run: Run, base: str, count: int) -> SmokeReport:
    """The smoke checks themselves, collected into a report (through SSH when probes to the api go that way)."""
    import httpx

    report = SmokeReport()
    users = run.env.smoke.users
    shared = run.executor.http_client(base)
    with httpx.Client(verify=trust.context()) if shared is None else contextlib.nullcontext(shared) as http:
        client = Api(http, base.rstrip("/"))

        def check(name: str, ok: bool, detail: str = "") -> bool:
            (report.passed if ok else report.failed).append(name if ok else f"{name}: {detail}")
            return ok

        tokens = []
        for user in users:
            password = user.secret()
            if password is None:
                check(f"login {user.tenant}", False, f"password variable {user.password_env} is not set")
                return report
            answer = client.post(
                "/api/v1/auth/login", json={"tenant": user.tenant, "username": user.username, "password": password}
            )
            token = answer.json().get("access_token") if answer.status_code == 200 else None
            if not check(f"login {user.tenant}", bool(token), f"HTTP {answer.status_code}"):
                return report
            tokens.append({"Authorization": f"Bearer {token}"})
        wrong = client.post(
            "/api/v1/auth/login",
            json={"tenant": users[0].tenant, "username": users[0].username, "password": "wrong-password"},
        )
        check("wrong password refused", wrong.status_code == 401, f"HTTP {wrong.status_code}")
        anonymous = client.get("/api/v1/artifacts")
        check("anonymous request refused", anonymous.status_code == 401, f"HTTP {anonymous.status_code}")
        _crud(client, tokens[0], check)
        if len(tokens) > 1:
            _isolation(client, tokens[0], tokens[1], check)
        report.p95 = _latency(client, tokens[0], count)
        limit = run.env.thresholds.p95_seconds
        check(f"latency p95 {report.p95:.3f} s over {count} requests", report.p95 <= limit, f"over {limit:g} s")
    return report


def _crud(client, auth, check) -> None:
    created = client.post("/api/v1/artifacts", json={"name": "smoke", "content": "created"}, headers=auth)
    if not check("artifact create", created.status_code == 201, f"HTTP {created.status_code}"):
        return
    artifact = created.json()["id"]
    path = f"/api/v1/artifacts/{artifact}"
    read = client.get(path, headers=auth)
    check(
        "artifact read", read.status_code == 200 and read.json().get("content") == "created", f"HTTP {read.status_code}"
    )
    updated = client.put(path, json={"name": "smoke", "content": "updated"}, headers=auth)
    check("artifact update", updated.status_code == 200, f"HTTP {updated.status_code}")
    reread = client.get(path, headers=auth)
    check("artifact update visible", reread.json().get("content") == "updated", str(reread.json()))
    deleted = client.delete(path, headers=auth)
    check("artifact delete", deleted.status_code in (200, 204), f"HTTP {deleted.status_code}")
    gone = client.get(path, headers=auth)
    check("artifact gone after delete", gone.status_code == 404, f"HTTP {gone.status_code}")


def _isolation(client, owner, other, check) -> None:
    created = client.post("/api/v1/artifacts", json={"name": "isolation", "content": "private"}, headers=owner)
    if created.status_code != 201:
        check("tenant isolation", False, f"could not create an artifact: HTTP {created.status_code}")
        return
    path = f"/api/v1/artifacts/{created.json()['id']}"
    foreign = client.get(path, headers=other)
    listed = client.get("/api/v1/artifacts", headers=other)
    body = listed.json() if listed.status_code == 200 else {}
    items = body.get("items", []) if isinstance(body, dict) else body
    ids = [item.get("id") for item in items]
    check("tenant isolation: other tenant gets 404", foreign.status_code == 404, f"HTTP {foreign.status_code}")
    check("tenant isolation: not in other tenant's list", created.json()["id"] not in ids, "listed")
    client.delete(path, headers=owner)


def _latency(client, auth, count: int) -> float:
    durations = []
    for _ in range(count):
        started = time.monotonic()
        client.get("/api/v1/artifacts", headers=auth)
        durations.append(time.monotonic() - started)
    return p95(durations)
