"""What the operator sees while the lab comes up or goes down: one line per step, and the total time."""

from __future__ import annotations

import time
from collections.abc import Callable


class Reporter:
    """Prints one line per step (unless quiet) and times the whole run."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        """Print a line unless quiet."""
        if not self.quiet:
            print(text, flush=True)

    def step(self, name: str, func: Callable[[], str | None]) -> None:
        """Run one step and print its name, duration and what it reports."""
        began = time.monotonic()
        detail = func()
        self.say(f"  ok  {name:<16} {time.monotonic() - began:5.1f} s  {detail or ''}".rstrip())

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started
