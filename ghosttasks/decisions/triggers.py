"""The runbook's automatic rollback triggers, judged from one monitoring reading (pure).

Error rate > 10 %, p95 > 2 s, more than 3 consecutive failed health checks, database connection
failures (hosts.yml thresholds; these are the defaults).

Nothing passes in silence: a measurement that could not be taken is None in the reading and its reason is in
`unjudged` (`error rate: no series`); the line shows it, and `unjudged_summary` tells the end of the watch
which triggers could not be judged in how many readings. A missing value never counts as below its limit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ghosttasks.config.settings import Thresholds

ERROR_RATE = "error rate"
P95 = "p95"
DATABASE = "database"
#: Why a measurement is missing (the words every line, summary and history entry use).
NOT_CONFIGURED = "not configured"
NO_SERIES = "no series"
NO_REQUESTS = "no requests in the window"


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
    """One interval's measurements of the new version (None: not measured, its reason in `unjudged`)."""

    error_rate: float | None = None
    p95: float | None = None
    healthy: bool = True
    database_ok: bool | None = True  # None: not judged (its reason in `unjudged`): never ok, never fires
    source: str = "prometheus"
    detail: str = ""
    unjudged: dict[str, str] = field(default_factory=dict)  # measurement -> why it could not be judged

    def why(self, name: str) -> str | None:
        """Why `name` (ERROR_RATE, P95, DATABASE) was not judged in this reading; None when it was."""
        value = {ERROR_RATE: self.error_rate, P95: self.p95}.get(name, 0.0)
        if name in self.unjudged:
            return self.unjudged[name]
        return "no data" if value is None else None

    def line(self) -> str:
        """The reading as one monitoring line (`error rate: no series` when it could not be judged)."""
        rate = f"{ERROR_RATE} {self.error_rate:.1%}" if self.why(ERROR_RATE) is None else ""
        p95 = f"{P95} {self.p95:.2f} s" if self.why(P95) is None else ""
        rate = rate or f"{ERROR_RATE}: {self.why(ERROR_RATE)}"
        p95 = p95 or f"{P95}: {self.why(P95)}"
        health = "ok" if self.healthy else f"FAILED ({self.detail})"
        database = f", {DATABASE}: {self.unjudged[DATABASE]}" if DATABASE in self.unjudged else ""
        return f"{rate}, {p95} ({self.source}), health {health}{database}"


@dataclass(frozen=True)
class Verdict:
    """The trigger that fired (None: keep watching) and the consecutive health failures so far."""

    trigger: Trigger | None
    consecutive_failures: int


def evaluate(reading: Reading, limits: Thresholds, consecutive_failures: int) -> Verdict:
    """Judge one reading; `consecutive_failures` is the count before it (a healthy reading resets it).

    A measurement that is None is not judged (it cannot fire, and unjudged_summary says so)."""
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


def unjudged_summary(readings: Sequence[Reading]) -> list[str]:
    """Each measurement that could not be judged in some reading: `error rate: no series (4 of 4 readings)`
    (the most frequent reason; `never judged` when no reading judged it). Empty: every reading judged all."""
    lines = []
    for name in (ERROR_RATE, P95, DATABASE):
        reasons = Counter(why for why in (reading.why(name) for reading in readings) if why is not None)
        if not reasons:
            continue
        missed = sum(reasons.values())
        reason = reasons.most_common(1)[0][0]
        lines.append(f"{name}: {reason} ({missed} of {len(readings)} readings)")
    return lines


def never_judged(readings: Sequence[Reading]) -> list[str]:
    """The measurements no reading judged (the watch protected nothing with them); none when nothing was read."""
    return [name for name in (ERROR_RATE, P95, DATABASE) if readings and all(r.why(name) for r in readings)]


def judge_series(values: Sequence[float]) -> tuple[float | None, str | None]:
    """A trigger query's answer (one value per series) as (value, why not): no series at all is NO_SERIES,
    only NaN (0/0: series without requests in the window) is NO_REQUESTS; several series: the worst (max)."""
    if not values:
        return None, NO_SERIES
    numbers = [value for value in values if not math.isnan(value)]
    if not numbers:
        return None, NO_REQUESTS
    return max(numbers), None
