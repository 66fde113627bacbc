"""How step events look: the live step list on a terminal, plain lines elsewhere (CI, `| tee`).

On a terminal the running step has a spinner and its elapsed time; under it, one status line per host of a
folded command (ghosttasks.terminal.folding): host, phase, elapsed, then its latest output line (what a narrow
terminal crops). A finished step becomes a permanent ✓/✗ line with its duration, below the checks it
printed. Without a terminal every line is plain text, as it always was. `render_running` and
`render_finished` are pure (a board and a clock in, text out): the golden tests render them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.terminal.output import Output
from ghosttasks.terminal.step_events import StepEvent

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FRAMES_PER_SECOND = 10
STATUS_WIDTH = 60
STEP_WIDTH = 40
HOST_WIDTH = 10


@dataclass
class HostStatus:
    phase: str
    started: float
    status: str = ""
    ended: float | None = None
    ok: bool = True
    result: str = ""


@dataclass
class StepBoard:
    """What the live view shows, built from the events: the running step and its hosts' folded commands."""

    step: str | None = None
    started: float = 0.0
    hosts: dict[str, HostStatus] = field(default_factory=dict)

    def apply(self, event: StepEvent) -> None:
        if event.kind == "start":
            self.step, self.started, self.hosts = event.step, event.at, {}
        elif event.kind in ("finish", "fail"):
            self.step, self.hosts = None, {}
        elif event.kind == "host_start":
            self.hosts[event.host] = HostStatus(event.text, event.at)
        elif event.kind == "host_line" and event.host in self.hosts:
            self.hosts[event.host].status = event.text
        elif event.kind == "host_finish" and event.host in self.hosts:
            host = self.hosts[event.host]
            host.ended, host.ok, host.result = event.at, event.ok, event.text


def seconds(value: float) -> str:
    """A duration as people read it: 0.4 s, 12.3 s, 2m05s."""
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes}m{rest:02d}s"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_running(board: StepBoard, now: float) -> Any:
    """The live part of the screen at time `now`: spinner, step, elapsed; a line per host under it."""
    from rich.text import Text

    text = Text(no_wrap=True, overflow="ellipsis")
    if board.step is None:
        return text
    elapsed = now - board.started
    frame = SPINNER[int(elapsed * FRAMES_PER_SECOND) % len(SPINNER)]
    text.append(f"{frame} ", style="cyan")
    text.append(f"{_clip(board.step, STEP_WIDTH):<{STEP_WIDTH}}", style="bold")
    text.append(f" {seconds(elapsed):>7}")
    for name, host in sorted(board.hosts.items()):
        text.append("\n    ")
        if host.ended is None:
            text.append(f"{SPINNER[int((now - host.started) * FRAMES_PER_SECOND) % len(SPINNER)]} ", style="cyan")
            status, took = host.status or "…", now - host.started
        else:
            text.append("✓ " if host.ok else "✗ ", style="green" if host.ok else "bold red")
            status, took = host.result, host.ended - host.started
        text.append(f"{_clip(name, HOST_WIDTH):<{HOST_WIDTH}} {host.phase:<6}", style="bold")
        text.append(f" {seconds(took):>7}  ")
        text.append(_clip(status, STATUS_WIDTH), style="dim")
    return text


def render_finished(event: StepEvent) -> Any:
    """The permanent line a finished step leaves: ✓ or ✗, its name and its duration."""
    from rich.text import Text

    mark, style = ("✓", "bold green") if event.kind == "finish" else ("✗", "bold red")
    text = Text(no_wrap=True)
    text.append(f"{mark} ", style=style)
    text.append(f"{_clip(event.step, STEP_WIDTH):<{STEP_WIDTH}}", style="bold")
    text.append(f" {seconds(event.duration):>7}")
    return text


class LiveSteps:
    """The live step list on a terminal (rich Live, redrawn a few times a second; gone when the run ends)."""

    def __init__(self, out: Output, clock: Callable[[], float]) -> None:
        self._out, self._clock = out, clock
        self._board = StepBoard()
        self._lock = threading.Lock()
        self._live: Any = None  # started with the first step (after any confirmation prompt)

    def _frame(self) -> Any:
        with self._lock:
            return render_running(self._board, self._clock())

    def __call__(self, event: StepEvent) -> None:
        with self._lock:
            self._board.apply(event)
        if self._live is None:
            self._live = self._out.live(self._frame)
        if event.kind == "host_line":
            return  # a build prints thousands: the next automatic redraw (8 a second) shows the latest
        self._live.refresh()  # before printing: lines printed meanwhile redraw the last frame under them
        if event.kind in ("finish", "fail"):
            self._out.render(render_finished(event))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


class PlainSteps:
    """Plain lines, no control characters: a heading per step, a line when a host's folded command starts and ends."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._phases: dict[str, str] = {}

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "start":
            self._out.step(event.step)
        elif event.kind == "host_start":
            self._phases[event.host] = event.text
            self._out.info(f"[{event.host}] {event.text}: running (output folded into the run log; --verbose shows it)")
        elif event.kind == "host_finish":
            phase = self._phases.pop(event.host, "command")
            verdict = "done" if event.ok else "failed"
            message = f"[{event.host}] {phase} {verdict} in {seconds(event.duration)} ({event.text})"
            if event.ok:
                self._out.info(message)
            else:
                self._out.fail(message)
