"""Deploy markers where dashboards and alert rules see them: a gauge in a Pushgateway group per environment.

Every deploy, rollback, emergency rollback and automatic rollback pushes (PUT: the group holds the last one)

    ghostworks_deploy_marker_timestamp_seconds{status="deployed",version="v1.1.0",color="green",task="deploy.prod"}
        <unix time>

into the group `job="ghosttasks", environment="<env>"`; Prometheus scrapes the Pushgateway (honor_labels),
so `changes(ghostworks_deploy_marker_timestamp_seconds[15m]) > 0` annotates a dashboard and
`time() - ghostworks_deploy_marker_timestamp_seconds < 900` tells an alert rule a deploy just happened.

status: `deployed` (version and colour now serving), `rolled_back` (the version and colour traffic went
back to), `failed` (the version and colour the failed attempt went into). Publishing never fails a deploy:
the caller warns. The pure parts (which marker a run's history entry means, the exposition text, reading
the last marker) are unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ghosttasks.domain.audit import HistoryEntry

METRIC = "ghostworks_deploy_marker_timestamp_seconds"
JOB = "ghosttasks"
#: The tasks that change what serves, and the status their success means.
SUCCESS = {"deploy.prod": "deployed", "deploy.rollback": "rolled_back", "deploy.emergency-rollback": "rolled_back"}
#: Steps that only look and decide: a run refused there changed nothing and publishes nothing.
REFUSING_STEPS = ("preflight", "plan rollback")


@dataclass(frozen=True)
class Marker:
    status: str  # deployed, rolled_back or failed
    version: str
    color: str
    task: str
    time: float  # unix seconds

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.status} {self.version} on {self.color} at {when} ({self.task})"


def marker_for(task: str, entry: HistoryEntry, time: float) -> Marker | None:
    """The marker a finished run's history entry means; None when it changed nothing that serves.

    An automatic rollback (`result: rolled_back`) publishes its own marker when it switches back.
    """
    if task not in SUCCESS or entry.result == "rolled_back":
        return None
    if entry.result != "ok" and entry.failed_step in REFUSING_STEPS:
        return None
    if not entry.version or not entry.color:
        return None  # refused before it knew what it would change
    status = SUCCESS[task] if entry.result == "ok" else "failed"
    return Marker(status, entry.version, entry.color, task, time)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def exposition(marker: Marker) -> str:
    """The Pushgateway body: the marker gauge in Prometheus' text format."""
    labels = ",".join(
        f"{name}={_quoted(value)}"
        for name, value in (("status", marker.status), ("version", marker.version), ("color", marker.color))
    )
    labels += f",task={_quoted(marker.task)}"
    return (
        f"# HELP {METRIC} When ghosttasks last deployed, rolled back or failed (status, version, colour).\n"
        f"# TYPE {METRIC} gauge\n"
        f"{METRIC}{{{labels}}} {marker.time:.3f}\n"
    )


def group_url(base_url: str, environment: str) -> str:
    """The Pushgateway group of an environment's markers (environment names are plain words)."""
    return f"{base_url.rstrip('/')}/metrics/job/{JOB}/environment/{environment}"


def last_marker(groups: list[dict[str, Any]], environment: str) -> Marker | None:
    """The marker in a Pushgateway /api/v1/metrics answer for this environment, if one was pushed."""
    for group in groups:
        if group.get("labels", {}).get("job") != JOB or group["labels"].get("environment") != environment:
            continue
        for sample in group.get(METRIC, {}).get("metrics", []):
            labels = sample["labels"]
            return Marker(labels["status"], labels["version"], labels["color"], labels["task"], float(sample["value"]))
    return None


def push(base_url: str, environment: str, marker: Marker, *, client: Any = None, timeout: float = 5.0) -> None:
    """PUT the marker into its group (replacing the previous one), retried briefly on errors."""
    import httpx
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    for attempt in Retrying(
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=0.2, max=1),
        retry=retry_if_exception_type(httpx.TransportError),
        reraise=True,
    ):
        with attempt:
            response = (client or httpx).put(
                group_url(base_url, environment),
                content=exposition(marker),
                headers={"Content-Type": "text/plain; version=0.0.4"},
                timeout=timeout,
            )
            response.raise_for_status()


def fetch_groups(base_url: str, *, client: Any = None, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every group the Pushgateway holds (GET /api/v1/metrics)."""
    import httpx

    response = (client or httpx).get(f"{base_url.rstrip('/')}/api/v1/metrics", timeout=timeout)
    response.raise_for_status()
    return response.json()["data"]
