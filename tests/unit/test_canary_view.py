"""The canary's live view: both colours side by side at a fixed clock, and the plain line without a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from ghosttasks.config.settings import CanarySettings, Thresholds
from ghosttasks.decisions.canary_steps import ColourReading, decide
from ghosttasks.terminal.canary_view import CanaryViewState, line, render


def text(renderable) -> str:
    console = Console(file=io.StringIO(), width=110, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def test_both_colours_side_by_side_with_the_decision():
    canary, stable = ColourReading(0.3, 0.08, 60), ColourReading(0.0, 0.05, 540)
    decision = decide(
        canary, stable, thresholds=Thresholds(), settings=CanarySettings(), elapsed=4, inconclusive_before=0
    )
    state = CanaryViewState("green v1.2.0", "blue v1.1.0", Thresholds(), CanarySettings(), percent=10)
    state.step_started, state.readings, state.last = 100.0, 2, (canary, stable, decision)
    state.history.append("canary 5%: promote (good against the stable colour and the thresholds)")
    shown = text(render(state, 104.0)).splitlines()
    assert [row.rstrip() for row in shown] == [
        "canary 5%: promote (good against the stable colour and the thresholds)",
        "canary 10% on green v1.2.0, stable blue v1.1.0  0:04 in this step (60 s at least)",
        "            canary green v1.2.0  stable blue v1.1.0  limit",
        "error rate  30.0%                0.0%                ≤ 10% and ≤ stable + 2%",
        "p95         0.08 s               0.05 s              ≤ 2 s and ≤ stable x1.5",
        "requests    60                   540                 ≥ 20 to judge",
        "abort: above the threshold 10% (2 readings)",
    ]
    assert line(state, 4.0) == (
        "[canary 10%    4 s] green v1.2.0 vs blue v1.1.0: error rate 30.0% vs 0.0%, p95 0.08 s vs 0.05 s, "
        "requests 60 vs 540: abort"
    )


def test_an_inconclusive_hold_says_so_in_the_plain_line():
    canary, stable = ColourReading(0.0, 0.01, 6), ColourReading(0.0, 0.01, 1737)
    decision = decide(
        canary, stable, thresholds=Thresholds(), settings=CanarySettings(), elapsed=2, inconclusive_before=0
    )
    state = CanaryViewState("blue v1.1.0", "green v1.0.0", Thresholds(), CanarySettings(), percent=10)
    state.last = (canary, stable, decision)
    assert line(state, 2.0).endswith("requests 6 vs 1737: hold (inconclusive)")
