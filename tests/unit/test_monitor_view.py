"""The live monitor's picture at a fixed clock, and its plain-line fallback without a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from ghosttasks.config.settings import Thresholds
from ghosttasks.decisions.triggers import Reading
from ghosttasks.terminal.monitor_view import MonitorView, ViewState, clock, render, sparkline
from ghosttasks.terminal.output import Output


def text(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def state(**changes) -> ViewState:
    return ViewState("green", "v1.1.0", 900.0, 1000.0, Thresholds(), **changes)


def test_the_view_at_a_fixed_clock():
    unjudged = {"error rate": "no series", "p95": "no series"}
    readings = [Reading(0.01, 0.12), Reading(0.02, 0.2), Reading(unjudged=unjudged), Reading(0.15, 2.5)]
    view = state(readings=readings, healthy_streak=4)
    assert text(render(view, now=1000.0 + 225)) == (
        "monitoring green v1.1.0  3:45 elapsed, 11:15 left  ██████░░░░░░░░░░░░░░░░░░\n"
        "error rate     15.0%  (limit 10%)  ▁▂ █  OVER\n"
        "p95           2.50 s  (limit 2 s)  ▁▂ █  OVER\n"
        "health      4 ok in a row\n"
        "source      prometheus (4 readings)\n"
        "not judged  error rate: no series (1 of 4 readings)\n"
        "not judged  p95: no series (1 of 4 readings)\n"
    )


def test_a_trigger_that_cannot_be_judged_shows_why_instead_of_a_number():
    reading = Reading(None, None, source="metrics.source: none", unjudged={"error rate": "not configured"})
    shown = text(render(state(readings=[reading]), now=1010.0))
    assert "error rate  not configured  (limit 10%)" in shown
    assert "p95          no data  (limit 2 s)" in shown
    assert "not judged  error rate: not configured (1 of 1 readings)" in shown


def test_before_the_first_reading_and_a_failing_health_streak():
    assert text(render(state(), now=990.0)) == (
        "monitoring green v1.1.0  0:00 elapsed, 15:00 left  ░░░░░░░░░░░░░░░░░░░░░░░░\n"
        "error rate       n/a  (limit 10%)  \n"
        "p95              n/a  (limit 2 s)  \n"
        "health      0 ok in a row\n"
        "source      waiting for the first reading (0 readings)\n"
    )
    failing = text(render(state(readings=[Reading(0.0, 0.1, healthy=False)], failures=2), now=1900.0))
    assert "15:00 elapsed, 0:00 left  ████████████████████████" in failing
    assert "health      2 failed in a row (rollback after 3)" in failing


def test_sparkline_scales_to_the_threshold_or_the_highest_value():
    assert sparkline([0.0, 0.05, 0.1], 0.1) == "▁▅█"
    assert sparkline([0.1, 0.2, None], 0.1) == "▅█ "
    assert len(sparkline([0.01] * 30, 0.1)) == 12
    assert (clock(0), clock(61.9), clock(-3)) == ("0:00", "1:01", "0:00")


def test_without_a_terminal_each_reading_is_one_plain_line():
    stream = io.StringIO()
    now = iter([1002.0, 1004.0])
    with MonitorView(Output(stream=stream), state(), lambda: next(now)) as view:
        view.add(Reading(0.0, 0.05), 0)
        view.add(Reading(None, None, healthy=False, detail="HTTP 503"), 1)
    assert stream.getvalue() == (
        "[    2 s / 900 s] green: error rate 0.0%, p95 0.05 s (prometheus), health ok\n"
        "[    4 s / 900 s] green: error rate: no data, p95: no data (prometheus), health FAILED (HTTP 503)\n"
    )
