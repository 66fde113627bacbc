"""The fault switch for the lab's failure drills.

Every good release ships `FAULT = None`. The origin repository's fault tags
(`v1.2.0-unhealthy`, `v1.2.0-errors`, `v1.2.0-slow`, `v1.2.0-leak`) each change only the
`FAULT = ...` line below; the api consults `plan()` for every request except
`GET /metrics`, so Prometheus keeps scraping a faulty release. The web service
is never faulted.

- "unhealthy": `GET /api/v1/health` always answers 503 `{"status": "starting"}`.
- "errors": for the first ERRORS_AFTER_SECONDS after the process starts all is
  well; from then on requests number 2, 5 and 8 of every 10 (counted over all
  api requests but /metrics) answer 500, a steady 30% error rate and never two
  failures in a row.
- "slow": every request sleeps SLOW_SECONDS before it is handled (health stays 200).
- "leak": every request keeps LEAK_BYTES the process never frees (health stays 200): the container's memory
  only grows while it has traffic (`stack.memory` flags it).

Two more tags drill migration safety and leave `FAULT = None`: `v1.2.0-dropcolumn` adds a revision that drops
`artifacts.tags`, which v1.1.0 reads (the migration lint refuses it as breaking), and `v1.2.0-lockingindex`
one that builds an index without CONCURRENTLY (warned as locking). See lab/app/README.md.
"""

from __future__ import annotations

FAULT = None

FAULTS = (None, "unhealthy", "errors", "slow", "leak")
ERRORS_AFTER_SECONDS = 15.0
ERROR_SLOTS = frozenset({2, 5, 8})
SLOW_SECONDS = 2.5
LEAK_BYTES = 64 * 1024


def plan(fault: str | None, seq: int, elapsed: float) -> tuple[float, bool]:
    """Return (delay in seconds, answer 500?) for api request number `seq`, `elapsed` seconds after start."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    if fault == "slow":
        return SLOW_SECONDS, False
    if fault == "errors" and elapsed >= ERRORS_AFTER_SECONDS and seq % 10 in ERROR_SLOTS:
        return 0.0, True
    return 0.0, False


def leak(fault: str | None, kept: list[bytes]) -> None:
    """With the "leak" fault, keep LEAK_BYTES more (written, so the memory is really used) in `kept`."""
    if fault == "leak":
        kept.append(b"x" * LEAK_BYTES)
