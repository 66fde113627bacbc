"""Step events: what the flows' step markers and the executor's folded commands report, and who listens.

A run has one StepFeed. `Run.step` emits `start` and `finish`/`fail` for each runbook step; a folded
(noisy) command emits `host_start`, `host_line` (its latest status) and `host_finish` per host. The
listeners render them: the live step list on a terminal (ghosttasks.terminal.step_view), plain lines elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["start", "finish", "fail", "host_start", "host_line", "host_finish"]


@dataclass(frozen=True)
class StepEvent:
    """One event: a step started or ended, or a host's folded command started, said something or ended.

    `at` is the feed's clock (monotonic seconds); `duration` is set on finish, fail and host_finish;
    `text` is the phase (host_start), the status line (host_line) or what the output held (host_finish).
    """

    kind: Kind
    at: float
    step: str = ""
    host: str = ""
    text: str = ""
    duration: float = 0.0
    ok: bool = True


Listener = Callable[[StepEvent], None]


class StepFeed:
    """Hands every event to its listeners, in order, one event at a time (commands run in parallel threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._listeners: list[Listener] = []
        self._closers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener, close: Callable[[], None] | None = None) -> None:
        """Receive every event from now on; `close` is called when the run ends."""
        self._listeners.append(listener)
        if close is not None:
            self._closers.append(close)

    def emit(self, kind: Kind, **fields: object) -> StepEvent:
        """Build the event at the feed's clock and give it to every listener."""
        event = StepEvent(kind, self.clock(), **fields)  # type: ignore[arg-type]
        with self._lock:
            for listener in self._listeners:
                listener(event)
        return event

    def close(self) -> None:
        """The run is over: listeners stop (the live view leaves its last frame on the screen)."""
        closers, self._closers, self._listeners = self._closers, [], []
        for close in closers:
            close()
