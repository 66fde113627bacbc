"""verify.logs: the runbook's log analysis for one colour — correlation IDs, error patterns, log aggregation.

The services read are `app.roles.logs`; their lines are read as `logs:` describes them
(ghosttasks.decisions.log_patterns: JSON with its keys, or text by a pattern).

1. Correlation (`logs.correlation`): requests with a fresh id each in `logs.request_id_header` — through the LB
   when the colour serves (nginx passes the id, or sets one: templates/nginx), else straight to the colour's
   public-role service on every app host — and each id must come back in that header and turn up in the logs
   of exactly one app host (the one the request was sent to, when that is known). Off: "correlation: not
   configured", never "ok".
2. Errors: the error-level lines (`logs.error_levels`) on every app host since the colour was deployed, by
   pattern; more than `thresholds.log_errors` on a host fails the check. No log line at all in that window is
   said, not passed.

Logs are read with `docker compose logs --since` over SSH (at most MAX_LINES per service and host); every line
printed goes through the masker.
"""

from __future__ import annotations

import uuid
from collections import Counter

from ghosttasks.commands import compose
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.log_patterns import LogSummary, summarise, top_patterns
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Probe
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
        raise OperationFailed(f"verify.logs reads a colour's logs: {env.name} runs one stack (no colours)")
    state = state or Store(run).load()
    color = color or state.active
    if not color:
        raise OperationFailed(f"nothing is deployed in {env.name} yet")
    since = state.colors[color].deployed_at
    correlation = env.logs.correlation
    sent = _send_requests(run, color, serving=color == state.active) if correlation else []
    summaries = _read_logs(run, color, since, {request_id for request_id, _ in sent})
    if not correlation:
        run.not_judged("correlation", "not configured (logs.correlation: false)")
    if run.dry_run:  # a plan sent no request: its assumed logs prove nothing
        return
    if correlation:
        _judge_correlation(run, sent, summaries)
    _judge_errors(run, color, since, summaries)


def _send_requests(run: Run, color: Color, *, serving: bool) -> list[tuple[str, str | None]]:
    """(request id, the host it was sent to or None when the LB chose) for every request sent."""
    env = run.env
    id_header = env.logs.request_id_header
    header: str | None = None  # through the LB: the colour is its header
    if serving and env.lb:
        header = env.lb.color_header
        targets: list[tuple[str, str | None]] = [(env.lb_health_url, None)] * REQUESTS
    else:
        per_host = max(1, REQUESTS // len(env.app_hosts))
        targets = [(env.health_url(host, None, color), host.name) for host in env.app_hosts for _ in range(per_host)]
    sent = []
    ids = [f"ghosttasks-{uuid.uuid4().hex}" for _ in targets]
    checks = []
    for (url, _host), request_id in zip(targets, ids, strict=True):
        client = run.executor.http_client(url)
        checks.append(
            Probe(
                f"GET {url} {way(env, url)} with {id_header} {request_id if not run.dry_run else '<fresh id>'}",
                lambda url=url, rid=request_id, c=client: probes.send_with_request_id(
                    url, rid, client=c, color_header=header, header=id_header
                ),
                probes.Correlated(request_id, 200, color if header else None, request_id),
            )
        )
    answers = run.executor.probe_all(checks)  # sent at once, judged in order
    for (url, host), request_id, answer in zip(targets, ids, answers, strict=True):
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
            raise OperationFailed(
                f"request {request_id} to {url}: {id_header} came back as {answer.echoed!r}",
                hint="an app that neither echoes nor logs request ids: logs.correlation: false in hosts.yml",
            )
        sent.append((request_id, host))
    return sent


def _read_logs(run: Run, color: Color, since: str | None, ids: set[str]) -> dict[str, LogSummary]:
    """Every app host's log summary (its log-role services together), re-read briefly until every request id
    has been logged."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    env = run.env
    services = env.app.roles.logs

    def command(host: Host) -> str:
        return compose.logs_since(color_project(run, host, color), services, since, MAX_LINES)

    def read() -> dict[str, LogSummary]:
        what = f"docker compose logs {' '.join(services)} ({color})"
        results = run.executor.run_parallel(env.app_hosts, command, what=what)
        return {result.host: summarise(result.stdout, env.logs) for result in results}

    if run.dry_run or not ids:  # no clock in a plan, no id to wait for: one read
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
    services, header = ", ".join(run.env.app.roles.logs), run.env.logs.request_id_header
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
            f"correlation IDs: {len(lost)} of {len(sent)} requests are in no {services} log: {', '.join(lost[:3])}",
            hint=f"does the LB pass {header}, and does the app log it with every request (logs.request_id_key or "
            "the pattern's request_id group)?",
        )
    if doubled or wrong:
        raise OperationFailed(f"correlation IDs on the wrong hosts: {'; '.join(doubled + wrong)}")
    per_host = Counter(hosts[0] for hosts in found.values())
    spread = ", ".join(f"{host} {count}" for host, count in sorted(per_host.items()))
    run.out.ok(f"correlation IDs: {len(sent)} of {len(sent)} requests found in the {services} logs ({spread})")


def _judge_errors(run: Run, color: Color, since: str | None, summaries: dict[str, LogSummary]) -> None:
    env = run.env
    threshold, services = env.thresholds.log_errors, ", ".join(env.app.roles.logs)
    levels = "/".join(level.upper() for level in env.logs.error_levels)
    window = f"since {since}" if since else "in the whole log"
    for host, summary in summaries.items():
        if not summary.lines:  # nothing to judge on this host: said, never an ok
            run.not_judged(f"{host} log errors", f"no {services} log line {window}")
            continue
        line = f"{host}: {summary.lines} {services} log lines {window}, {summary.error_count} {levels}"
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
            f"{services} logs of {color}: {', '.join(over)} {levels} lines {window}, above thresholds.log_errors "
            f"({threshold}); top: {top[0]}",
            hint=f"inv stack.logs {env.app.roles.logs[0]} --color {color}",
        )


def after_deploy(run: Run, state: DeployState) -> None:
    """deploy.prod's log analysis of the colour it made live: a finding is a warning, the deploy stands
    (the rollback triggers decide rollbacks; this says where to look)."""
    try:
        check_logs(run, state.active, state)
    except OperationFailed as exc:
        run.out.warn(f"log analysis: {exc} (the deploy stands; look: inv verify.logs --color {state.active})")
