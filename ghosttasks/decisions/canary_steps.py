"""PURE the canary's judgement: one reading of both colours -> promote, hold or abort (Argo Rollouts' and
Flagger's analysis, over SSH and Prometheus, with the runbook's triggers as the absolute limits).

A reading holds each colour's error rate, p95 and requests in monitoring.rate_window (ghosttasks.flows.steps.
metrics). The rules, in order:
1. the canary colour not measured (no data) or with fewer than canary.min_requests requests: inconclusive. The
   step holds; more than canary.max_inconclusive_readings such readings in a row abort it (it cannot be judged).
2. the canary's error rate above thresholds.error_rate, or its p95 above thresholds.p95_seconds: abort.
3. the stable colour measured with enough requests: the canary's error rate above the stable one's plus
   canary.error_rate_margin, or its p95 above max(stable x canary.p95_ratio, stable + canary.p95_margin_seconds):
   abort. A stable colour that cannot be compared is said, and the absolute limits alone judged the reading.
4. otherwise the reading is good: promote once the step has lasted canary.step_seconds, else hold.
Every decision names the metric and both colours' values, so the history can say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ghosttasks.config.settings import CanarySettings, Thresholds
from ghosttasks.decisions.triggers import ERROR_RATE, P95

REQUESTS = "requests"
PROMOTE, HOLD, ABORT = "promote", "hold", "abort"
Action = Literal["promote", "hold", "abort"]


@dataclass(frozen=True)
class ColourReading:
    """One colour's numbers in the window (None: not measured, `why` says why)."""

    error_rate: float | None
    p95: float | None
    requests: float | None
    why: str | None = None

    def shows(self, metric: str) -> str:
        """The metric's value as the history and the view write it (`12.5%`, `0.31 s`, `no data`)."""
        value = {ERROR_RATE: self.error_rate, P95: self.p95, REQUESTS: self.requests}[metric]
        if value is None:
            return self.why or "no data"
        if metric == ERROR_RATE:
            return f"{value:.1%}"
        if metric == P95:
            return f"{value:.2f} s"
        return f"{value:.0f}"


@dataclass(frozen=True)
class StepDecision:
    """What to do after a reading, the metric that decided (None: every metric was fine) and why."""

    action: Action
    reason: str
    metric: str | None = None
    canary: str | None = None  # the canary colour's value of `metric`
    stable: str | None = None  # the stable colour's value of `metric`
    inconclusive: int = 0  # inconclusive readings in a row, this one included
    conclusive: bool = True


def _too_few(reading: ColourReading, minimum: float) -> bool:
    return reading.requests is None or reading.requests < minimum


def decide(
    canary: ColourReading,
    stable: ColourReading,
    *,
    thresholds: Thresholds,
    settings: CanarySettings,
    elapsed: float,
    inconclusive_before: int,
) -> StepDecision:
    """The decision after one reading of a step that has run `elapsed` seconds, with `inconclusive_before`
    inconclusive readings in a row before this one."""
    if canary.error_rate is None or canary.p95 is None or _too_few(canary, settings.min_requests):
        count = inconclusive_before + 1
        if canary.requests is not None and canary.requests < settings.min_requests:
            why = f"too few requests on the canary ({canary.shows(REQUESTS)} < {settings.min_requests:g})"
        else:
            missing = ERROR_RATE if canary.error_rate is None else P95 if canary.p95 is None else REQUESTS
            why = f"no data for the canary's {missing} ({canary.shows(missing)})"
        if count > settings.max_inconclusive_readings:
            return StepDecision(
                ABORT,
                f"inconclusive {count} readings in a row (limit {settings.max_inconclusive_readings}): {why}",
                REQUESTS,
                canary.shows(REQUESTS),
                stable.shows(REQUESTS),
                count,
                conclusive=False,
            )
        return StepDecision(
            HOLD, f"inconclusive: {why}", REQUESTS, canary.shows(REQUESTS), stable.shows(REQUESTS), count, False
        )

    def abort(metric: str, limit: str) -> StepDecision:
        return StepDecision(ABORT, limit, metric, canary.shows(metric), stable.shows(metric))

    if canary.error_rate > thresholds.error_rate:
        return abort(ERROR_RATE, f"above the threshold {thresholds.error_rate:.0%}")
    if canary.p95 > thresholds.p95_seconds:
        return abort(P95, f"above the threshold {thresholds.p95_seconds:g} s")
    compared = stable.error_rate is not None and stable.p95 is not None and not _too_few(stable, settings.min_requests)
    if compared:
        assert stable.error_rate is not None and stable.p95 is not None
        if canary.error_rate > stable.error_rate + settings.error_rate_margin:
            return abort(ERROR_RATE, f"above the stable colour's by more than {settings.error_rate_margin:.0%}")
        p95_limit = max(stable.p95 * settings.p95_ratio, stable.p95 + settings.p95_margin_seconds)
        if canary.p95 > p95_limit:
            return abort(P95, f"above the stable colour's x{settings.p95_ratio:g} (limit {p95_limit:.2f} s)")
        against = "against the stable colour and the thresholds"
    else:
        against = f"against the thresholds only (stable colour: {stable.why or 'too few requests'})"
    if elapsed >= settings.step_seconds:
        return StepDecision(PROMOTE, f"good {against}")
    return StepDecision(HOLD, f"good {against}; {settings.step_seconds - elapsed:.0f} s of the step left")
