"""The runbook's automatic rollback triggers, judged from one monitoring reading (pure).

Error rate > 10 %, p95 > 2 s, more than 3 consecutive failed health checks, database connection
failures (hosts.yml thresholds; these are the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.config.settings import Thresholds


@dataclass(frozen=True)
class Trigger:
    name: str
    measured: str
    threshold: str

    def describe(self) -> str:
        """The trigger as one line: what, measured, threshold."""
        return f"{self.name} {self.measured} (threshold {self.threshold})"


@dataclass
class Reading:
    """One interval's measurements of the new version (None: no data in that interval)."""

    error_rate: float | None = None
    p95: float | None = None
    healthy: bool = True
    database_ok: bool | None = True  # None: cannot be said (not configured, not in the answer): never ok
    source: str = "prometheus"
    detail: str = ""
    database: str = ""  # what the health answer said of the database, when it is not simply ok

    def line(self) -> str:
        """The reading as one monitoring line."""
        rate = "n/a" if self.error_rate is None else f"{self.error_rate:.1%}"
        p95 = "n/a" if self.p95 is None else f"{self.p95:.2f} s"
        health = "ok" if self.healthy else f"FAILED ({self.detail})"
        database = f", {self.database}" if self.database_ok is None and self.database else ""
        return f"error rate {rate}, p95 {p95} ({self.source}), health {health}{database}"


@dataclass(frozen=True)
class Verdict:
    """The trigger that fired (None: keep watching) and the consecutive health failures so far."""

    trigger: Trigger | None
    consecutive_failures: int


def evaluate(reading: Reading, limits: Thresholds, consecutive_failures: int) -> Verdict:
    """Judge one reading; `consecutive_failures` is the count before it (a healthy reading resets it)."""
    failures = 0 if reading.healthy else consecutive_failures + 1
    trigger = None
    if reading.error_rate is not None and reading.error_rate > limits.error_rate:
        trigger = Trigger("API error rate", f"{reading.error_rate:.1%}", f"{limits.error_rate * 100:g}%")
    elif reading.p95 is not None and reading.p95 > limits.p95_seconds:
        trigger = Trigger("response time p95", f"{reading.p95:.2f} s", f"{limits.p95_seconds:g} s")
    elif reading.database_ok is False:
        trigger = Trigger("database connection failures", reading.detail or "database check failed", "none")
    elif failures > limits.health_failures:
        trigger = Trigger("consecutive health check failures", str(failures), f"> {limits.health_failures}")
    return Verdict(trigger, failures)
