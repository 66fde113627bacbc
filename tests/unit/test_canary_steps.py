"""The canary's step decision (promote, hold, abort) over its inputs: no data, too few requests, the absolute
thresholds, the comparison with the stable colour, the step's time and the inconclusive limit."""

from __future__ import annotations

import pytest

from ghosttasks.config.settings import CanarySettings, Thresholds
from ghosttasks.decisions.canary_steps import ABORT, HOLD, PROMOTE, REQUESTS, ColourReading, decide
from ghosttasks.decisions.triggers import ERROR_RATE, P95

SETTINGS = CanarySettings(step_seconds=60, min_requests=20, max_inconclusive_readings=3)
GOOD = ColourReading(error_rate=0.0, p95=0.05, requests=400)


def judge(canary, stable=GOOD, *, elapsed=10.0, before=0):
    return decide(
        canary, stable, thresholds=Thresholds(), settings=SETTINGS, elapsed=elapsed, inconclusive_before=before
    )


def test_a_good_reading_holds_until_the_step_has_lasted_then_promotes():
    held = judge(ColourReading(0.0, 0.06, 50), elapsed=10)
    assert (held.action, held.metric, held.conclusive) == (HOLD, None, True)
    assert held.reason == "good against the stable colour and the thresholds; 50 s of the step left"
    promoted = judge(ColourReading(0.0, 0.06, 50), elapsed=60)
    assert (promoted.action, promoted.reason) == (PROMOTE, "good against the stable colour and the thresholds")


def test_no_data_is_inconclusive_and_holds_the_step_even_when_its_time_is_up():
    decision = judge(ColourReading(None, None, None, why="no series"), elapsed=600)
    assert (decision.action, decision.conclusive, decision.inconclusive) == (HOLD, False, 1)
    assert decision.reason == "inconclusive: no data for the canary's error rate (no series)"


def test_too_few_requests_is_inconclusive_and_names_both_counts():
    decision = judge(ColourReading(0.5, 3.0, 4), before=1)  # 50 % errors of 4 requests: not enough to judge
    assert (decision.action, decision.metric, decision.canary, decision.stable) == (HOLD, REQUESTS, "4", "400")
    assert decision.inconclusive == 2
    assert decision.reason == "inconclusive: too few requests on the canary (4 < 20)"


def test_one_inconclusive_reading_more_than_the_limit_aborts():
    decision = judge(ColourReading(0.0, 0.05, 3), before=3)
    assert (decision.action, decision.metric, decision.inconclusive) == (ABORT, REQUESTS, 4)
    assert decision.reason == "inconclusive 4 readings in a row (limit 3): too few requests on the canary (3 < 20)"


def test_a_conclusive_reading_resets_the_inconclusive_count():
    assert judge(GOOD, before=3).inconclusive == 0


@pytest.mark.parametrize(
    ("canary", "metric", "values", "reason"),
    [
        (ColourReading(0.3, 0.05, 40), ERROR_RATE, ("30.0%", "0.0%"), "above the threshold 10%"),
        (ColourReading(0.0, 2.5, 40), P95, ("2.50 s", "0.05 s"), "above the threshold 2 s"),
        (ColourReading(0.05, 0.05, 40), ERROR_RATE, ("5.0%", "0.0%"), "above the stable colour's by more than 2%"),
        (ColourReading(0.0, 0.4, 40), P95, ("0.40 s", "0.05 s"), "above the stable colour's x1.5 (limit 0.15 s)"),
    ],
)
def test_a_failed_comparison_aborts_naming_the_metric_and_both_values(canary, metric, values, reason):
    decision = judge(canary)
    assert (decision.action, decision.metric, (decision.canary, decision.stable), decision.reason) == (
        ABORT,
        metric,
        values,
        reason,
    )


def test_the_margins_keep_small_differences_from_aborting():
    stable = ColourReading(0.01, 0.2, 400)
    assert judge(ColourReading(0.029, 0.29, 40), stable).action == HOLD  # +1.9 points, p95 x1.45
    assert judge(ColourReading(0.0, 0.14, 40), ColourReading(0.0, 0.05, 400)).action == HOLD  # +0.09 s


def test_a_stable_colour_that_cannot_be_compared_leaves_the_absolute_limits_and_says_so():
    stable = ColourReading(None, None, 0.0, why="no requests in the window")
    decision = judge(ColourReading(0.05, 0.3, 40), stable, elapsed=60)
    assert decision.action == PROMOTE
    assert decision.reason == "good against the thresholds only (stable colour: no requests in the window)"
    assert judge(ColourReading(0.2, 0.3, 40), stable).action == ABORT  # the thresholds still judge


def test_too_few_requests_on_the_stable_colour_is_no_comparison():
    decision = judge(ColourReading(0.05, 0.05, 40), ColourReading(0.0, 0.05, 5))
    assert decision.action == HOLD
    assert "thresholds only (stable colour: too few requests)" in decision.reason
