"""Alertmanager over its HTTP API (httpx): its configuration, its notification counters, a test alert.

Alertmanager 0.25 (Debian bookworm) counts notifications per integration (webhook, email, ...), not per
receiver: `alertmanager_notification_requests_total` is every attempt, `..._requests_failed_total` the failed
ones, so attempts minus failures is what was delivered. The pure parts (reading the counters, building the
test alert) are unit-tested; the requests run in the lab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

REQUESTS = "alertmanager_notification_requests_total"
FAILED = "alertmanager_notification_requests_failed_total"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class Counters:
    """Notification attempts and failed attempts, summed over every integration."""

    requests: float
    failed: float

    def delivered_since(self, before: Counters) -> float:
        return (self.requests - before.requests) - (self.failed - before.failed)

    def failed_since(self, before: Counters) -> float:
        return self.failed - before.failed


def counter_total(text: str, name: str) -> float:
    """The sum of every sample of one metric in Prometheus' text exposition format (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        found = SAMPLE.match(line)
        if found and found[1] == name:
            total += float(found[3])
    return total


def counters(text: str) -> Counters:
    """The notification counters of an Alertmanager /metrics page."""
    return Counters(counter_total(text, REQUESTS), counter_total(text, FAILED))


def synthetic_alert(token: str, labels: dict[str, str], now: datetime, expires: float) -> list[dict[str, Any]]:
    """The body of POST /api/v2/alerts: one alert with the given route labels, a unique name and label, and an
    end time `expires` seconds from now (it resolves by itself; `send_resolved` receivers hear that too).

    The unique alertname starts a new alert group when the route groups by alertname (most do), so the
    notification waits group_wait, not a running group's group_interval.
    """
    ends = now + timedelta(seconds=expires)
    return [
        {
            "labels": {**labels, "alertname": f"GhosttasksTestAlert_{token}", "ghosttasks_test": token},
            "annotations": {"summary": "ghosttasks verify.monitoring test alert: proves the channel, ignore it"},
            "startsAt": now.isoformat(),
            "endsAt": ends.isoformat(),
        }
    ]


def get_config(base_url: str, *, client: Any = None, timeout: float = 5.0) -> dict[str, Any]:
    """Alertmanager's loaded configuration (GET /api/v2/status, config.original parsed as YAML)."""
    import httpx
    import yaml

    response = (client or httpx).get(f"{base_url.rstrip('/')}/api/v2/status", timeout=timeout)
    response.raise_for_status()
    return yaml.safe_load(response.json()["config"]["original"]) or {}


def get_counters(base_url: str, *, client: Any = None, timeout: float = 5.0) -> Counters:
    """The notification counters now (GET /metrics)."""
    import httpx

    response = (client or httpx).get(f"{base_url.rstrip('/')}/metrics", timeout=timeout)
    response.raise_for_status()
    return counters(response.text)


def post_alerts(base_url: str, alerts: list[dict[str, Any]], *, client: Any = None, timeout: float = 5.0) -> None:
    """POST /api/v2/alerts."""
    import httpx

    response = (client or httpx).post(f"{base_url.rstrip('/')}/api/v2/alerts", json=alerts, timeout=timeout)
    response.raise_for_status()


def reachable(url: str, *, client: Any = None, timeout: float = 3.0) -> str | None:
    """None when something answers HTTP at the URL (any status: a webhook may refuse a GET), else why not."""
    import httpx

    try:
        (client or httpx).get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc or 'no detail'}"
    return None
