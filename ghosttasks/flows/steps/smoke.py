"""Smoke tests (runbook "Integration tests") of a colour before the switch: the built-in Ghostworks suite (auth
flow, artifact CRUD, tenant isolation, latency) and the app's own scripts (`./scripts/smoke-tests.sh`)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.commands import smoke_scripts
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.percentiles import p95
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.errors import CommandFailed, OperationFailed
from ghosttasks.execution import trust
from ghosttasks.execution.run import Run
from ghosttasks.terminal.folding import TAIL_LINES

#: Seconds per smoke request.
REQUEST_TIMEOUT = 10.0
#: Seconds the SSH command of a smoke script may outlive the script's own limit (timeout's TERM, then KILL).
SCRIPT_GRACE_SECONDS = smoke_scripts.KILL_AFTER_SECONDS + 20


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


def smoke(run: Run, color: Color | None, version: str | None, *, requests: int | None = None) -> SmokeReport:
    """The smoke tests of one colour (single strategy: the stack) on the first app host: the built-in suite
    (smoke.builtin) against its public-role service, then the app's own scripts (smoke.scripts). Either failing
    raises; neither configured is said, never passed."""
    env = run.env
    first = env.app_hosts[0]
    base = env.base_url(first, None, color)
    report = SmokeReport()
    if env.smoke.builtin:
        report = builtin_suite(run, base, requests=requests)
    if env.smoke.scripts:
        run_scripts(run, first, color, version, base)
    if not env.smoke.builtin and not env.smoke.scripts:
        run.not_judged("smoke tests", "not configured (smoke.builtin: false and no smoke.scripts)")
    return report


def run_scripts(run: Run, host: Host, color: Color | None, version: str | None, base: str) -> None:
    """Each of smoke.scripts in that version's release dir on `host` (single: the app dir), one after the other,
    against `base`; their output folds into the run log. The first that fails (exit status, or its time limit)
    raises with its last lines: the caller has not switched, so the old colour keeps serving."""
    env = run.env
    if env.app.strategy == "blue-green":
        if not version:
            raise OperationFailed(f"no version recorded for {color}: cannot tell which release's smoke scripts to run")
        directory = env.release_dir(host, version)
    else:
        directory = env.app_dir(host)
    variables = smoke_scripts.variables(base, color, version, env.name)
    limit = env.smoke.script_timeout_seconds
    against = f"{color or env.name} ({base})"
    for line in env.smoke.scripts:
        command = smoke_scripts.run_script(directory, line, variables, limit)
        what = f"smoke script {line}"
        result = run.executor.run(
            host, command, timeout=limit + SCRIPT_GRACE_SECONDS, check=False, stream="smoke", what=what
        )
        if result.ok:
            if not run.dry_run:
                run.out.ok(f"{what}: passed against {against} on {host.name} ({result.duration:.1f} s)")
            continue
        tail = result.tail or tuple((result.stdout + result.stderr).splitlines()[-TAIL_LINES:])
        stopped = result.timed_out or result.exit_code == smoke_scripts.TIMED_OUT
        why = f"stopped at its limit of {limit:g} s" if stopped else f"exit {result.exit_code}"
        last = " | ".join(text.strip() for text in tail[-3:]) or "no output"
        run.out.fail(f"{what}: {why} against {against} on {host.name}")
        raise CommandFailed(
            f"{what} failed against {against} on {host.name}: {why}; last lines: {last}",
            results=[dataclasses.replace(result, tail=tail)],
            hint=f"its whole output is in the run log; to run it by hand on {host.name}: {command}",
        )


def builtin_suite(run: Run, base: str, *, requests: int | None = None) -> SmokeReport:
    """Auth flow, artifact CRUD, tenant isolation and a small latency benchmark against one base URL."""
    settings = run.env.smoke
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
            token = _field(answer, "access_token") if answer.status_code == 200 else None
            if not check(f"login {user.tenant}", bool(token), _detail(answer)):
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


def _body(response: Any) -> Any:
    """The response's JSON body; None when it is not JSON (a failed check, never an uncaught error)."""
    try:
        return response.json()
    except ValueError:
        return None


def _field(response: Any, name: str) -> Any:
    """One field of a JSON object body; None when the body is not a JSON object or lacks it."""
    body = _body(response)
    return body.get(name) if isinstance(body, dict) else None


def _detail(response: Any) -> str:
    """`HTTP 200, not JSON` / `HTTP 201`: what a failed check saw."""
    shape = "" if isinstance(_body(response), dict) else ", not a JSON object"
    return f"HTTP {response.status_code}{shape}"


def _crud(client, auth, check) -> None:
    created = client.post("/api/v1/artifacts", json={"name": "smoke", "content": "created"}, headers=auth)
    artifact = _field(created, "id") if created.status_code == 201 else None
    if not check("artifact create", artifact is not None, _detail(created)):
        return
    path = f"/api/v1/artifacts/{artifact}"
    read = client.get(path, headers=auth)
    check("artifact read", read.status_code == 200 and _field(read, "content") == "created", _detail(read))
    updated = client.put(path, json={"name": "smoke", "content": "updated"}, headers=auth)
    check("artifact update", updated.status_code == 200, f"HTTP {updated.status_code}")
    reread = client.get(path, headers=auth)
    check("artifact update visible", _field(reread, "content") == "updated", _detail(reread))
    deleted = client.delete(path, headers=auth)
    check("artifact delete", deleted.status_code in (200, 204), f"HTTP {deleted.status_code}")
    gone = client.get(path, headers=auth)
    check("artifact gone after delete", gone.status_code == 404, f"HTTP {gone.status_code}")


def _isolation(client, owner, other, check) -> None:
    created = client.post("/api/v1/artifacts", json={"name": "isolation", "content": "private"}, headers=owner)
    artifact = _field(created, "id") if created.status_code == 201 else None
    if artifact is None:
        check("tenant isolation", False, f"could not create an artifact: {_detail(created)}")
        return
    path = f"/api/v1/artifacts/{artifact}"
    foreign = client.get(path, headers=other)
    listed = client.get("/api/v1/artifacts", headers=other)
    body = _body(listed) if listed.status_code == 200 else {}  # refused: nothing of it listed
    items = body.get("items", []) if isinstance(body, dict) else body
    ids = [item.get("id") for item in items if isinstance(item, dict)] if isinstance(items, list) else None
    check("tenant isolation: other tenant gets 404", foreign.status_code == 404, f"HTTP {foreign.status_code}")
    check("tenant isolation: not in other tenant's list", ids is not None and artifact not in ids, _listed(ids))
    client.delete(path, headers=owner)


def _listed(ids: list | None) -> str:
    return "listed" if ids is not None else "the other tenant's list is not a JSON list"


def _latency(client, auth, count: int) -> float:
    durations = []
    for _ in range(count):
        started = time.monotonic()
        client.get("/api/v1/artifacts", headers=auth)
        durations.append(time.monotonic() - started)
    return p95(durations)
