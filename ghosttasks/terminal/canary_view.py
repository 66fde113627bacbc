"""The canary on a terminal: both colours side by side, redrawn every reading.

The step (share, time in it), then one row per metric with the canary colour's value, the stable colour's and the
limits, and the last decision (promote, hold, abort: why). `render` is pure (unit-tested); `CanaryView` shows it
live when stdout is a terminal and prints one plain line per reading when it is not (logs, CI, pipes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ghosttasks.config.settings import CanarySettings, Thresholds
from ghosttasks.decisions.canary_steps import REQUESTS, ColourReading, StepDecision
from ghosttasks.decisions.triggers import ERROR_RATE, P95
from ghosttasks.terminal.monitor_view import clock


@dataclass
class CanaryViewState:
    """What the view shows: the two colours, the step, and the last reading of each with its decision."""

    canary: str  # `green v1.2.0`
    stable: str  # `blue v1.1.0`
    thresholds: Thresholds
    settings: CanarySettings
    percent: int = 0
    step_started: float = 0.0
    readings: int = 0
    last: tuple[ColourReading, ColourReading, StepDecision] | None = None
    history: list[str] = field(default_factory=list)  # one line per finished step


def limits(metric: str, thresholds: Thresholds, settings: CanarySettings) -> str:
    """The limits a metric of the canary is judged against, in words."""
    if metric == ERROR_RATE:
        return f"≤ {thresholds.error_rate:.0%} and ≤ stable + {settings.error_rate_margin:.0%}"
    if metric == P95:
        return f"≤ {thresholds.p95_seconds:g} s and ≤ stable x{settings.p95_ratio:g}"
    return f"≥ {settings.min_requests:g} to judge"


def render(state: CanaryViewState, now: float) -> Any:
    """The live view at monotonic time `now` (a rich renderable; no I/O)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = Text(f"canary {state.percent}% on {state.canary}, stable {state.stable}  ", style="bold")
    title.append(f"{clock(now - state.step_started)} in this step ({state.settings.step_seconds:g} s at least)")
    table = Table(box=None, pad_edge=False)
    for column in ("", f"canary {state.canary}", f"stable {state.stable}", "limit"):
        table.add_column(column)
    last = state.last
    for metric in (ERROR_RATE, P95, REQUESTS):
        canary = last[0].shows(metric) if last else "n/a"
        stable = last[1].shows(metric) if last else "n/a"
        style = "bold red" if last and last[2].action == "abort" and last[2].metric == metric else None
        table.add_row(metric, Text(canary, style=style or ""), stable, limits(metric, state.thresholds, state.settings))
    rows: list[Any] = [*(Text(line, style="dim") for line in state.history), title, table]
    if last:
        decision = last[2]
        style = {"abort": "bold red", "promote": "green"}.get(decision.action, "yellow")
        rows.append(Text(f"{decision.action}: {decision.reason} ({state.readings} readings)", style=style))
    return Group(*rows)


def line(state: CanaryViewState, elapsed: float) -> str:
    """One reading as a plain line (no terminal)."""
    assert state.last is not None
    canary, stable, decision = state.last
    shown = ", ".join(
        f"{metric} {canary.shows(metric)} vs {stable.shows(metric)}" for metric in (ERROR_RATE, P95, REQUESTS)
    )
    action = decision.action if decision.conclusive else f"{decision.action} (inconclusive)"
    return f"[canary {state.percent}% {elapsed:4.0f} s] {state.canary} vs {state.stable}: {shown}: {action}"


class CanaryView:
    """Shows the canary's readings: live on a terminal, else one plain line each."""

    def __init__(self, out: Any, state: CanaryViewState, clock_now: Any) -> None:
        self.out, self.state, self.now = out, state, clock_now
        self.live: Any = None

    def __enter__(self) -> CanaryView:
        if self.out.is_terminal:
            self.live = self.out.live(lambda: render(self.state, self.now()))
        return self

    def step(self, percent: int) -> None:
        """A new step starts now."""
        self.state.percent, self.state.step_started, self.state.readings, self.state.last = percent, self.now(), 0, None
        if self.live is not None:
            self.live.refresh()

    def add(self, canary: ColourReading, stable: ColourReading, decision: StepDecision) -> None:
        """One more reading of both colours and its decision."""
        state = self.state
        state.readings += 1
        state.last = (canary, stable, decision)
        if self.live is not None:
            self.live.refresh()
            return
        self.out.info(line(state, self.now() - state.step_started))

    def finish_step(self, text: str) -> None:
        """The step ended (promoted, aborted): kept above the live rows."""
        self.state.history.append(text)
        if self.live is not None:
            self.live.refresh()

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
