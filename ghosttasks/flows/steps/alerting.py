"""The alert chain, proved end to end: rules evaluating, Prometheus sending to Alertmanager, the rollback alerts'
route (receivers, group wait), and a synthetic test alert delivered to every receiver on that route.

The test alert carries the rollback rules' own labels (so it takes their route), a unique alertname and
`ghosttasks_test` label, and an end time shortly after the deadline (it resolves by itself). Delivery is read
from Alertmanager's notification counters: attempts minus failed attempts since just before the alert. When
a receiver fails, its webhook URLs are probed the way Alertmanager reaches them (through SSH when probes go
that way) to name the one that is down.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from ghosttasks.decisions.alert_routes import Destination, destinations, integrations, webhook_urls
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.observability import alertmanager
from ghosttasks.observability.notify import redact_url

POLL_SECONDS = 0.5
#: After the first failed attempt, how long the other receivers get before the check gives its verdict.
FAILURE_GRACE_SECONDS = 3.0


def alert_rules(rules: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerting rules of a Prometheus /api/v1/rules answer."""
    return [rule for group in rules["groups"] for rule in group["rules"] if rule.get("type") == "alerting"]


def rules_evaluating(run: Run, rules: dict[str, Any], url: str) -> None:
    """Every alert rule evaluates without error, and Prometheus has an Alertmanager to send to."""
    found = alert_rules(rules)
    broken = [
        f"{rule['name']} ({rule.get('lastError') or rule.get('health')})" for rule in found if rule["health"] != "ok"
    ]
    if broken:
        raise OperationFailed(f"Prometheus alert rules do not evaluate: {', '.join(broken)}")
    if found:
        ages = [_age(rule.get("lastEvaluation")) for rule in found]
        newest = min(ages)
        run.out.ok(f"Prometheus: {len(found)} alert rules evaluating (last evaluation {newest:.1f} s ago)")
    client = run.executor.http_client(url)
    managers = run.executor.probe(
        f"GET {url}/api/v1/alertmanagers {way(run.env, url)}",
        lambda: _prometheus_data(url, "/api/v1/alertmanagers", client),
        assume={"activeAlertmanagers": [{"url": "(assumed)"}]},
    )
    active = [manager["url"] for manager in managers["activeAlertmanagers"]]
    if not active:
        raise OperationFailed("Prometheus sends alerts to no Alertmanager (alerting.alertmanagers is empty or down)")
    run.out.ok(f"Prometheus: alerts go to {', '.join(active)}")


def _prometheus_data(url: str, path: str, client: Any) -> Any:
    from ghosttasks.execution.probes import prometheus_get

    return prometheus_get(url, path, client=client)


def _age(stamp: str | None) -> float:
    """Seconds since an RFC 3339 time from Prometheus (infinite when it never evaluated)."""
    if not stamp or stamp.startswith("0001-"):
        return float("inf")
    text = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(text)).total_seconds())


def alert_chain(run: Run, rules: dict[str, Any]) -> None:
    """Report the rollback alerts' route and prove a test alert on it reaches every receiver in time."""
    env = run.env
    url = env.monitoring.alertmanager_url
    assert url is not None
    client, route = run.executor.http_client(url), way(env, url)
    config = run.executor.probe(
        f"GET {url}/api/v2/status {route}",
        lambda: alertmanager.get_config(url, client=client),
        assume={"route": {"receiver": "(assumed)"}, "receivers": [{"name": "(assumed)"}]},
    )
    found = alert_rules(rules) or [{"name": "(assumed rule)", "labels": {}}]
    for rule in found:
        labels = {**rule.get("labels", {}), "alertname": rule["name"]}
        ends = destinations(config["route"], labels)
        run.out.ok(f"Alertmanager route of {rule['name']}: " + "; ".join(end.describe() for end in ends))
    token = secrets.token_hex(4)
    body = alertmanager.synthetic_alert(
        token, found[0].get("labels", {}), datetime.now(UTC), env.monitoring.alert_deadline_seconds + 30
    )
    ends = destinations(config["route"], body[0]["labels"])
    expected = sum(integrations(config, end.receiver) for end in ends)
    before = run.executor.probe(
        f"GET {url}/metrics {route}", lambda: alertmanager.get_counters(url, client=client), assume=None
    )
    run.executor.probe(
        f"POST {url}/api/v2/alerts {route} (test alert {body[0]['labels']['alertname']})",
        lambda: alertmanager.post_alerts(url, body, client=client),
        assume=None,
    )
    if run.dry_run:  # a plan sent no alert: there is no delivery to wait for
        run.executor.note(f"wait up to {env.monitoring.alert_deadline_seconds:g} s for its notifications")
        return
    assert before is not None
    delivered, failed, seconds = _wait_delivery(run, url, client, before, expected)
    names = ", ".join(dict.fromkeys(end.receiver for end in ends))
    if delivered >= expected:
        retried = f", {failed:g} failed attempts retried" if failed else ""
        run.out.ok(
            f"Alertmanager: test alert {token} delivered to {names} in {seconds:.1f} s "
            f"({delivered:g} of {expected} notifications{retried})"
        )
        return
    raise OperationFailed(_failure(run, config, ends, token, delivered, expected, failed, seconds))


def _wait_delivery(run: Run, url: str, client: Any, before: Any, expected: int) -> tuple[float, float, float]:
    """Poll the counters until every notification went out, a failure had its grace, or the deadline."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    started = time.monotonic()
    first_failure: list[float] = []

    def done(now: Any) -> bool:
        delivered, failed = now.delivered_since(before), now.failed_since(before)
        if failed and not first_failure:
            first_failure.append(time.monotonic())
        if delivered >= expected:
            return True
        return bool(first_failure) and time.monotonic() - first_failure[0] >= FAILURE_GRACE_SECONDS

    retrying = Retrying(
        stop=stop_after_delay(run.env.monitoring.alert_deadline_seconds),
        wait=wait_fixed(POLL_SECONDS),
        retry=retry_if_result(lambda now: not done(now)),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    now = retrying(lambda: alertmanager.get_counters(url, client=client))
    return now.delivered_since(before), now.failed_since(before), time.monotonic() - started


def _failure(
    run: Run,
    config: dict[str, Any],
    ends: list[Destination],
    token: str,
    delivered: float,
    expected: int,
    failed: float,
    seconds: float,
) -> str:
    """One line naming the receiver that did not take the test alert (probed the way Alertmanager reaches it)."""
    down = []
    for receiver in dict.fromkeys(end.receiver for end in ends):
        for hook in webhook_urls(config, receiver):
            problem = run.executor.probe(
                f"GET {redact_url(hook)} {way(run.env, hook)}",
                lambda hook=hook: alertmanager.reachable(hook, client=run.executor.http_client(hook)),
                assume=None,
            )
            if problem:
                down.append(f"receiver {receiver} ({redact_url(hook)}: {problem})")
    counts = f"{delivered:g} of {expected} notifications delivered, {failed:g} failed attempts in {seconds:.1f} s"
    if down:
        return f"Alertmanager: test alert {token} not delivered to {'; '.join(down)} ({counts})"
    names = ", ".join(dict.fromkeys(end.receiver for end in ends))
    return f"Alertmanager: test alert {token} not delivered to every receiver of {names} ({counts})"
