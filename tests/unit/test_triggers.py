"""The automatic rollback triggers (ghosttasks.decisions.triggers.evaluate), by exact verdict."""

import pytest

from ghosttasks.config.settings import Thresholds
from ghosttasks.decisions.triggers import (
    Reading,
    Trigger,
    Verdict,
    evaluate,
    judge_series,
    never_judged,
    unjudged_summary,
)

DEFAULTS = Thresholds()
STRICT = Thresholds(error_rate=0.05, p95_seconds=0.5, health_failures=1)


def test_the_defaults_are_the_runbooks():
    assert (DEFAULTS.error_rate, DEFAULTS.p95_seconds, DEFAULTS.health_failures) == (0.10, 2.0, 3)


@pytest.mark.parametrize(
    ("reading", "limits", "before", "expected"),
    [
        # a calm reading: nothing fires, the count stays at zero
        (Reading(error_rate=0.01, p95=0.2), DEFAULTS, 0, Verdict(None, 0)),
        # no data at all (None) is not a trigger
        (Reading(), DEFAULTS, 0, Verdict(None, 0)),
        (Reading(error_rate=None, p95=None), STRICT, 0, Verdict(None, 0)),
        # each trigger on its own
        (Reading(error_rate=0.15), DEFAULTS, 0, Verdict(Trigger("API error rate", "15.0%", "10%"), 0)),
        (Reading(p95=2.5), DEFAULTS, 0, Verdict(Trigger("response time p95", "2.50 s", "2 s"), 0)),
        (
            Reading(database_ok=False, detail="connection refused"),
            DEFAULTS,
            0,
            Verdict(Trigger("database connection failures", "connection refused", "none"), 0),
        ),
        (
            Reading(database_ok=False),
            DEFAULTS,
            0,
            Verdict(Trigger("database connection failures", "database check failed", "none"), 0),
        ),
        (
            Reading(healthy=False, detail="503"),
            DEFAULTS,
            3,
            Verdict(Trigger("consecutive health check failures", "4", "> 3"), 4),
        ),
        # exactly at a threshold is not above it
        (Reading(error_rate=0.10, p95=2.0), DEFAULTS, 0, Verdict(None, 0)),
        (Reading(error_rate=0.05, p95=0.5), STRICT, 0, Verdict(None, 0)),
        # everything is fine, except one value just above
        (Reading(error_rate=0.1001), DEFAULTS, 0, Verdict(Trigger("API error rate", "10.0%", "10%"), 0)),
        (Reading(p95=2.001), DEFAULTS, 0, Verdict(Trigger("response time p95", "2.00 s", "2 s"), 0)),
        # the custom thresholds of hosts.yml are the ones judged and shown
        (Reading(error_rate=0.06), STRICT, 0, Verdict(Trigger("API error rate", "6.0%", "5%"), 0)),
        (Reading(error_rate=0.06), DEFAULTS, 0, Verdict(None, 0)),
        (Reading(p95=0.75), STRICT, 0, Verdict(Trigger("response time p95", "0.75 s", "0.5 s"), 0)),
        (Reading(p95=0.75), DEFAULTS, 0, Verdict(None, 0)),
        (Reading(error_rate=1.0), Thresholds(error_rate=1.0), 0, Verdict(None, 0)),
        (Reading(error_rate=0.001), Thresholds(error_rate=0), 0, Verdict(Trigger("API error rate", "0.1%", "0%"), 0)),
    ],
)
def test_one_reading(reading, limits, before, expected):
    assert evaluate(reading, limits, before) == expected


@pytest.mark.parametrize(
    ("reading", "name"),
    [
        # error rate first, then p95, then the database, then the health count
        (Reading(error_rate=0.5, p95=9.0, healthy=False, database_ok=False), "API error rate"),
        (Reading(error_rate=0.01, p95=9.0, healthy=False, database_ok=False), "response time p95"),
        (Reading(error_rate=None, p95=9.0, healthy=False, database_ok=False), "response time p95"),
        (Reading(error_rate=None, p95=None, healthy=False, database_ok=False), "database connection failures"),
        (Reading(error_rate=0.01, p95=0.1, healthy=False, database_ok=False), "database connection failures"),
        (Reading(error_rate=0.01, p95=0.1, healthy=False, database_ok=True), "consecutive health check failures"),
    ],
)
def test_the_order_the_triggers_are_checked_in(reading, name):
    verdict = evaluate(reading, DEFAULTS, 9)
    assert verdict.trigger is not None
    assert verdict.trigger.name == name
    assert verdict.consecutive_failures == 10  # counted whichever trigger fired


def _walk(healthy: list[bool], limits: Thresholds) -> list[tuple[int, str | None]]:
    """Feed readings one after another the way monitoring does; (count, trigger name) after each."""
    count, seen = 0, []
    for ok in healthy:
        verdict = evaluate(Reading(healthy=ok, detail="503"), limits, count)
        count = verdict.consecutive_failures
        seen.append((count, verdict.trigger.name if verdict.trigger else None))
    return seen


HEALTH = "consecutive health check failures"


def test_the_count_fires_only_when_it_exceeds_the_default_of_three():
    assert _walk([False, False, False, False, False], DEFAULTS) == [
        (1, None),
        (2, None),
        (3, None),
        (4, HEALTH),
        (5, HEALTH),
    ]


def test_a_healthy_reading_resets_the_count():
    assert _walk([False, False, False, True, False, False, False, False], DEFAULTS) == [
        (1, None),
        (2, None),
        (3, None),
        (0, None),
        (1, None),
        (2, None),
        (3, None),
        (4, HEALTH),
    ]


def test_the_count_with_custom_thresholds():
    assert _walk([False, True, False, False], STRICT) == [(1, None), (0, None), (1, None), (2, HEALTH)]
    assert _walk([False] * 11, Thresholds(health_failures=10))[-2:] == [(10, None), (11, HEALTH)]


def test_a_healthy_reading_resets_even_a_count_that_already_fired():
    assert evaluate(Reading(healthy=True), DEFAULTS, 7) == Verdict(None, 0)


def test_a_failed_health_reading_counts_even_when_the_database_fires():
    verdict = evaluate(Reading(healthy=False, database_ok=False, detail="db down"), DEFAULTS, 0)
    assert verdict == Verdict(Trigger("database connection failures", "db down", "none"), 1)


def test_the_threshold_shown_is_the_threshold_in_the_hosts_yml():
    verdict = evaluate(Reading(p95=1.5), Thresholds(p95_seconds=1.25), 0)
    assert verdict.trigger == Trigger("response time p95", "1.50 s", "1.25 s")


def test_a_fractional_percent_threshold_is_shown_as_configured():
    verdict = evaluate(Reading(error_rate=0.03), Thresholds(error_rate=0.025), 0)
    assert verdict.trigger == Trigger("API error rate", "3.0%", "2.5%")


def test_trigger_describe():
    trigger = Trigger("API error rate", "15.0%", "10%")
    assert trigger.describe() == "API error rate 15.0% (threshold 10%)"


@pytest.mark.parametrize(
    ("reading", "line"),
    [
        (Reading(), "error rate: no data, p95: no data (prometheus), health ok"),
        (
            Reading(None, 0.2, source="LB access log, 3 requests", unjudged={"error rate": "no series"}),
            "error rate: no series, p95 0.20 s (LB access log, 3 requests), health ok",
        ),
        (
            Reading(unjudged={"error rate": "not configured", "p95": "not configured", "database": "not configured"}),
            "error rate: not configured, p95: not configured (prometheus), health ok, database: not configured",
        ),
        (Reading(error_rate=0.5, p95=1.234), "error rate 50.0%, p95 1.23 s (prometheus), health ok"),
        (
            Reading(error_rate=0.0, p95=0.0, healthy=False, source="lb sample", detail="timeout"),
            "error rate 0.0%, p95 0.00 s (lb sample), health FAILED (timeout)",
        ),
    ],
)
def test_reading_line(reading, line):
    assert reading.line() == line


def test_what_could_not_be_judged_is_summed_up_per_trigger():
    readings = [
        Reading(None, None, unjudged={"error rate": "no series", "p95": "no series"}),
        Reading(0.01, None, unjudged={"p95": "no requests in the window"}),
        Reading(0.02, None, unjudged={"p95": "no requests in the window"}),
        Reading(0.0, 0.1, unjudged={"database": "not configured"}),
    ]
    assert unjudged_summary(readings) == [
        "error rate: no series (1 of 4 readings)",
        "p95: no requests in the window (3 of 4 readings)",
        "database: not configured (1 of 4 readings)",
    ]
    assert unjudged_summary([Reading(0.0, 0.1), Reading(0.5, 3.0)]) == []
    assert unjudged_summary([Reading()]) == ["error rate: no data (1 of 1 readings)", "p95: no data (1 of 1 readings)"]


def test_a_query_answer_is_a_value_or_why_not():
    nan = float("nan")
    assert judge_series([]) == (None, "no series")
    assert judge_series([nan]) == (None, "no requests in the window")
    assert judge_series([0.02]) == (0.02, None)
    assert judge_series([0.02, nan, 0.4]) == (0.4, None)  # several series: the worst one judges


def test_a_trigger_no_reading_judged_protected_nothing():
    missing = {"error rate": "no series", "p95": "no series"}
    assert never_judged([Reading(unjudged=missing), Reading(0.0, None, unjudged={"p95": "no series"})]) == ["p95"]
    assert never_judged([Reading(0.0, 0.1)]) == [] and never_judged([]) == []
