"""The monitor on a terminal: a rich live view of the watched colour, redrawn every reading.

Elapsed and remaining time, error rate and p95 against their thresholds with a small trend (or why
there is no number: `no series`, `not configured`), the health streak, where the numbers come from and which
triggers could not be judged so far. `render` is pure (a fixed clock gives a fixed picture: unit-tested);
`MonitorView` shows it live when stdout is a terminal, and prints today's one plain line per reading when
it is not (logs, CI, pipes). The verdict line after the view is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ghosttasks.config.settings import Thresholds
from ghosttasks.decisions.triggers import ERROR_RATE, P95, Reading, unjudged_summary

TREND = "▁▂▃▄▅▆▇█"
TREND_LENGTH = 12
BAR_LENGTH = 24


def sparkline(values: list[float | None], ceiling: float) -> str:
    """The last TREND_LENGTH values as bars scaled to `ceiling` (the threshold, or more if a value is higher);
    a reading without data is a space."""
    shown = values[-TREND_LENGTH:]
    top = max([ceiling, *(value for value in shown if value is not None)]) or 1.0
    return "".join(
        " " if value is None else TREND[min(len(TREND) - 1, int(value / top * (len(TREND) - 1) + 0.5))]
        for value in shown
    )


def clock(seconds: float) -> str:
    """m:ss."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class ViewState:
    """What the view shows: the watch, and every reading so far with the health streak after it."""

    color: str
    version: str | None
    duration: float
    started: float
    thresholds: Thresholds
    readings: list[Reading] = field(default_factory=list)
    failures: int = 0  # consecutive failed health checks after the last reading
    healthy_streak: int = 0


def render(state: ViewState, now: float) -> Any:
    """The live view at monotonic time `now` (a rich renderable; no I/O)."""
    from rich.console import Group
    from rich.text import Text

    elapsed = min(state.duration, max(0.0, now - state.started))
    done = int(BAR_LENGTH * elapsed / state.duration) if state.duration else BAR_LENGTH
    limits = state.thresholds
    last = state.readings[-1] if state.readings else None
    title = Text(f"monitoring {state.color} {state.version or '?'}  ", style="bold")
    title.append(f"{clock(elapsed)} elapsed, {clock(state.duration - elapsed)} left  ")
    title.append("█" * done, style="cyan")
    title.append("░" * (BAR_LENGTH - done), style="dim")
    rates = [reading.error_rate for reading in state.readings]
    p95s = [reading.p95 for reading in state.readings]
    rate_now = None if last is None else last.error_rate
    p95_now = None if last is None else last.p95
    rows = [
        title,
        _row(
            "error rate",
            _value(last, ERROR_RATE, f"{rate_now or 0:.1%}"),
            f"limit {limits.error_rate * 100:g}%",
            sparkline(rates, limits.error_rate),
            rate_now is not None and rate_now > limits.error_rate,
        ),
        _row(
            "p95",
            _value(last, P95, f"{p95_now or 0:.2f} s"),
            f"limit {limits.p95_seconds:g} s",
            sparkline(p95s, limits.p95_seconds),
            p95_now is not None and p95_now > limits.p95_seconds,
        ),
    ]
    if state.failures:
        health = Text(f"{'health':<11} {state.failures} failed in a row (rollback after {limits.health_failures})")
        health.stylize("bold red", 12)
    else:
        health = Text(f"{'health':<11} {state.healthy_streak} ok in a row")
    rows.append(health)
    source = last.source if last else "waiting for the first reading"
    rows.append(Text(f"{'source':<11} {source} ({len(state.readings)} readings)", style="dim"))
    for line in unjudged_summary(state.readings):  # nothing passes in silence: what could not be judged, so far
        rows.append(Text(f"{'not judged':<11} {line}", style="yellow"))
    return Group(*rows)


def _value(reading: Reading | None, name: str, shown: str) -> str:
    """The measured value as shown, or why there is none (`n/a` before the first reading)."""
    if reading is None:
        return "n/a"
    why = reading.why(name)
    return shown if why is None else why


def _row(name: str, value: str, limit: str, trend: str, over: bool) -> Any:
    from rich.text import Text

    row = Text(f"{name:<11} {value:>8}  ({limit})  ")
    row.append(trend, style="red" if over else "green")
    row.append("  OVER" if over else "", style="bold red")
    return row


class MonitorView:
    """Shows the readings: live on a terminal (rich Live), else one plain line each (today's format)."""

    def __init__(self, out: Any, state: ViewState, clock_now: Any) -> None:
        self.out, self.state, self.now = out, state, clock_now
        self.live: Any = None

    def __enter__(self) -> MonitorView:
        if self.out.is_terminal:
            self.live = self.out.live(lambda: render(self.state, self.now()))  # the clock ticks between readings
        return self

    def add(self, reading: Reading, failures: int) -> None:
        """One more reading and the consecutive health failures after it."""
        state = self.state
        state.readings.append(reading)
        state.failures = failures
        state.healthy_streak = state.healthy_streak + 1 if reading.healthy else 0
        if self.live is not None:
            self.live.refresh()
            return
        elapsed = self.now() - state.started
        self.out.info(f"[{elapsed:5.0f} s / {state.duration:.0f} s] {state.color}: {reading.line()}")

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
