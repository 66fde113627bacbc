"""Latency percentiles from request durations (statistics.quantiles, inclusive method)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def p95(durations: Sequence[float]) -> float:
    """The 95th percentile of the durations (the only one for a single sample); ValueError when empty."""
    if not durations:
        raise ValueError("no durations")
    if len(durations) == 1:
        return float(durations[0])
    return statistics.quantiles(durations, n=100, method="inclusive")[94]
