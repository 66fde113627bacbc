"""verify.logs: the runbook's log analysis for one colour — correlation IDs, error patterns, log aggregation.

1. Correlation: requests with a fresh `X-Request-ID` each — through the LB when the colour serves (nginx
   passes the id, or sets one: templates/nginx), else straight to the colour's api on every app host — and
   each id must turn up in the api log of exactly one app host (the one the request was sent to, when
   that is known).
2. Errors: the api's ERROR/CRITICAL lines on every app host since the colour was deployed, by pattern
   (ghosttasks.decisions.log_patterns); more than `thresholds.log_errors` on a host fails the check.

Logs are read with `docker compose logs --since` over SSH (at most MAX_LINES per host); every line printed
goes through the masker.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from ghosttasks.commands import compose
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.log_patterns import LogSummary, summarise, top_patterns
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import color_project
from ghosttasks.records.state_store import Store

REQUESTS = 10
MAX_LINES = 50000
#: How long the request ids may take to show up in the logs (the app logs a request after answering it).
ID_DEADLINE_SECONDS = 10.0


def check_logs(run: Run, color: Color | None, state: DeployState | None = None) -> None:
    """Correlation IDs found on the right hosts, and no more errors than the threshold since the deploy.

    `state`: the deploy state as the caller holds it (deploy.prod, just recorded); None: read it.
    """
    env = run.env
    if env.app.strategy != "blue-green":
        raise OperationFailed(f"verify.logs reads a colour's api logs: {env.name} runs one stack (no colours)")
    state = state or Store(run).load()
    color = color or state.active
    if not color:
        raise OperationFailed(f"nothing is deployed in {env.name} yet")
    since = state.colors[color].deployed_at
    sent = _send_requests(run, color, serving=color == state.active)
    summaries = _read_logs(run, color, since, {request_id for request_id, _ in sent})
    if run.dry_run:  # a plan sent no request: its assumed logs prove nothing
        return
    _judge_correlation(run, sent, summaries)
    _judge_errors(run, color, since, summaries)


def _send_requests(run: Run, color: Color, *, serving: bool) -> list[tuple[str, str | None]]:
    """(request id, the host it was sent to or None when the LB chose) for every request sent."""
    env = run.env
    if serving and env.lb:
        targets: list[tuple[str, str | None]] = [(env.lb_health_url, None)] * REQUESTS
    else:
        per_host = max(1, REQUESTS // len(env.app_hosts))
        targets = [(env.health_url(host, "api", color), host.name) for host in env.app_hosts for _ in range(per_host)]
    sent = []
    for url, host in targets:
        request_id = f"ghosttasks-{uuid.uuid4().hex}"
        client = run.executor.http_client(url)
        header = env.lb.color_header if env.lb and host is None else None
        answer = run.executor.probe(
            f"GET {url} {way(env, url)} with X-Request-ID {request_id if not run.dry_run else '<fresh id>'}",
            lambda url=url, rid=request_id, c=client, h=header: probes.send_with_request_id(
                url, rid, client=c, color_header=h
            ),
            assume=probes.Correlated(request_id, 200, color if header else None, request_id),
        )
        if answer.error:  # an error answer is logged with its id too: only no answer at all stops the check
            raise OperationFailed(f"request {request_id} to {url}: {answer.error}")
        if header and answer.status == 200 and answer.color is None:
            raise OperationFailed(
                f"request {request_id} to {url} came back without the {header} header: nginx drops the selector's "
                f"server-level add_header in a location that sets its own; check `nginx -T` on {env.lb_host.name}"
            )
        if header and answer.status == 200 and answer.color != color:  # through the LB: its colour header
            raise OperationFailed(f"request {request_id} to {url} answered from {answer.color}, expected {color}")
        if answer.echoed != request_id:
            raise OperationFailed(f"request {request_id} to {url}: X-Request-ID came back as {answer.echoed!r}")
        sent.append((request_id, host))
    return sent


def _read_logs(run: Run, color: Color, since: str | None, ids: set[str]) -> dict[str, LogSummary]:
    """Every app host's api log summary, re-read briefly until every request id has been logged."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    env = run.env

    def command(host: Host) -> str:
        return compose.logs_since(color_project(run, host, color), "api", since, MAX_LINES)

    def read() -> dict[str, LogSummary]:
        results = run.executor.run_parallel(env.app_hosts, command, what=f"docker compose logs api ({color})")
        return {result.host: summarise(result.stdout) for result in results}

    if run.dry_run:  # no clock in a plan: one read, not a wait for the ids to be logged
        return read()

    def missing(summaries: dict[str, LogSummary]) -> bool:
        return bool(ids - set().union(*(summary.request_ids for summary in summaries.values())))

    retrying = Retrying(
        stop=stop_after_delay(ID_DEADLINE_SECONDS),
        wait=wait_fixed(0.5),
        retry=retry_if_result(missing),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    return retrying(read)


def _judge_correlation(run: Run, sent: list[tuple[str, str | None]], summaries: dict[str, LogSummary]) -> None:
    found: dict[str, list[str]] = {
        request_id: [host for host, summary in summaries.items() if request_id in summary.request_ids]
        for request_id, _ in sent
    }
    lost = [request_id for request_id, hosts in found.items() if not hosts]
    doubled = [f"{request_id} ({', '.join(hosts)})" for request_id, hosts in found.items() if len(hosts) > 1]
    wrong = [
        f"{request_id} (sent to {host}, logged on {', '.join(found[request_id])})"
        for request_id, host in sent
        if host and found[request_id] and found[request_id] != [host]
    ]
    if lost:
        raise OperationFailed(
            f"correlation IDs: {len(lost)} of {len(sent)} requests are in no api log: {', '.join(lost[:3])}",
            hint="does the LB pass X-Request-ID, and does the api log it with every request?",
        )
    if doubled or wrong:
        raise OperationFailed(f"correlation IDs on the wrong hosts: {'; '.join(doubled + wrong)}")
    per_host = Counter(hosts[0] for hosts in found.values())
    spread = ", ".join(f"{host} {count}" for host, count in sorted(per_host.items()))
    run.out.ok(f"correlation IDs: {len(sent)} of {len(sent)} requests found in the api logs ({spread})")


def _judge_errors(run: Run, color: Color, since: str | None, summaries: dict[str, Any]) -> None:
    threshold = run.env.thresholds.log_errors
    window = f"since {since}" if since else "in the whole log"
    for host, summary in summaries.items():
        line = f"{host}: {summary.lines} api log lines {window}, {summary.error_count} ERROR/CRITICAL"
        (run.out.fail if summary.error_count > threshold else run.out.ok)(line)
    patterns: Counter = Counter()
    for summary in summaries.values():
        patterns.update(summary.errors)
    top = top_patterns(patterns)
    for line in top:
        run.out.info(f"  {line}")
    over = [f"{host} {summary.error_count}" for host, summary in summaries.items() if summary.error_count > threshold]
    if over:
        raise OperationFailed(
            f"api logs of {color}: {', '.join(over)} ERROR/CRITICAL lines {window}, above thresholds.log_errors "
            f"({threshold}); top: {top[0]}",
            hint=f"inv stack.logs api --color {color}",
        )


def after_deploy(run: Run, state: DeployState) -> None:
    """deploy.prod's log analysis of the colour it made live: a finding is a warning, the deploy stands
    (the rollback triggers decide rollbacks; this says where to look)."""
    try:
        check_logs(run, state.active, state)
    except OperationFailed as exc:
        run.out.warn(f"log analysis: {exc} (the deploy stands; look: inv verify.logs --color {state.active})")
