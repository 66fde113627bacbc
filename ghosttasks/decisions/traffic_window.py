"""PURE the users' traffic of one colour from the LB access log's lines: requests, 5xx share, p95.

Lines are the selector's format (`gt1 <msec> <status> <request_time> <colour>`); a line of another shape is
skipped and counted, never guessed at. Only lines of the window (`now - seconds` .. now, the LB's clock) count.
"""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.decisions.percentiles import p95
from ghosttasks.domain.metric_queries import ACCESS_LOG_TAG


@dataclass(frozen=True)
class Traffic:
    """One colour's requests in the window: how many, how many answered 5xx, the p95 request time."""

    color: str
    requests: int
    errors: int
    p95: float | None  # None: no request in the window
    skipped: int = 0  # lines that were not in the format

    @property
    def error_rate(self) -> float | None:
        """The 5xx share (None: no request to share)."""
        return self.errors / self.requests if self.requests else None

    def summary(self) -> str:
        """One line: `120 requests, 3 5xx (2.5%), p95 0.08 s`."""
        if not self.requests:
            return f"no requests to {self.color}"
        return f"{self.requests} requests, {self.errors} 5xx ({self.error_rate:.1%}), p95 {self.p95:.2f} s"


def window_seconds(window: str) -> int:
    """A PromQL-style duration (`20s`, `1m`, `2h`) in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    if len(window) < 2 or window[-1] not in units or not window[:-1].isdigit():
        raise ValueError(f"not a duration like 20s, 1m or 2h: {window!r}")
    return int(window[:-1]) * units[window[-1]]


def traffic(lines: list[str], color: str, *, now: float, seconds: float) -> Traffic:
    """The requests `color` served in the window ending at `now`, from the log's lines."""
    since = now - seconds
    durations: list[float] = []
    errors = skipped = 0
    for line in lines:
        fields = line.split()
        try:
            tag, at, status, took, served = fields
            at_time, code, duration = float(at), int(status), float(took)
        except ValueError:
            skipped += 1
            continue
        if tag != ACCESS_LOG_TAG:
            skipped += 1
            continue
        if served != color or at_time < since:
            continue
        durations.append(duration)
        errors += code >= 500
    return Traffic(color, len(durations), errors, p95(durations) if durations else None, skipped)
