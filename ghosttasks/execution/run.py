"""One invocation of a task: environment, executor, output, identity, clock and step timings."""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ghosttasks.config.inventory import Environment
from ghosttasks.domain.audit import HistoryEntry, StepRecord
from ghosttasks.domain.placeholders import PLAN_STAMP, PLAN_TIME
from ghosttasks.execution.executor import Executor
from ghosttasks.terminal.command_name import typed
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.step_events import StepFeed


@dataclass
class Run:
    """Everything a flow needs; built by the task layer (ghosttasks.tasks.runtime.start)."""

    env: Environment
    executor: Executor
    out: Output
    task: str
    command_line: str = ""
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    user: str = field(default_factory=lambda: _user())
    origin: str = field(default_factory=socket.gethostname)
    steps: list[StepRecord] = field(default_factory=list)
    failed_step: str | None = None
    clock: Callable[[], float] = time.time  # wall clock (epoch seconds); a test injects its own
    started: float = field(default_factory=time.time)
    feed: StepFeed | None = None  # step events; default: plain headings (ghosttasks.terminal.step_view.PlainSteps)
    outcome: HistoryEntry | None = None  # the history entry of a guarded run (for the closing summary)
    facts: dict[str, Any] = field(default_factory=dict)  # read once per run, dropped by what changes them

    def __post_init__(self) -> None:
        if self.feed is None:
            from ghosttasks.terminal.step_view import PlainSteps

            self.feed = StepFeed()
            self.feed.subscribe(PlainSteps(self.out))
        self.executor.feed = self.feed

    @property
    def dry_run(self) -> bool:
        """This run only records a plan."""
        return self.executor.dry_run

    def elapsed(self) -> float:
        """Seconds since the run started by its clock; 0 in a dry run (a plan does not depend on how long it took
        to record it: what a budget allows is planned as if none of it were spent)."""
        return 0.0 if self.dry_run else max(0.0, self.clock() - self.started)

    def stamp(self) -> str:
        """UTC time for file names; a placeholder in dry-run plans so they are deterministic."""
        return PLAN_STAMP if self.dry_run else time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

    def now(self) -> str:
        """UTC time for state and history; a placeholder in dry-run plans."""
        return PLAN_TIME if self.dry_run else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A named, timed step: its duration goes into the history; a failure names it."""
        feed = self.feed
        assert feed is not None
        self.executor.section(name)
        started = feed.emit("start", step=name).at
        try:
            yield
        except BaseException:
            self.failed_step = self.failed_step or name
            seconds = round(feed.clock() - started, 3)
            self.steps.append(StepRecord(name, seconds, False))
            feed.emit("fail", step=name, duration=seconds, ok=False)
            raise
        seconds = round(feed.clock() - started, 3)
        self.steps.append(StepRecord(name, seconds, True))
        feed.emit("finish", step=name, duration=seconds)

    def note(self, text: str) -> None:
        """Say something to the user (and into a dry-run plan)."""
        self.out.info(text)
        self.executor.note(text)

    def not_judged(self, what: str, why: str) -> None:
        """Nothing passes in silence: a check or trigger that could not be judged says so on its line
        (`error rate: no series`), and the closing summary and the history entry (`unevaluated`) repeat it."""
        line = f"{what}: {why}"
        self.out.warn(line)
        self.executor.note(f"not judged: {line}")
        self.record_not_judged(line)

    def record_not_judged(self, line: str) -> None:
        """Add `what: why` to the closing summary and the history entry (`unevaluated`), once; the caller has
        said it on its own line."""
        if self.outcome is not None and line not in (self.outcome.unevaluated or []):
            self.outcome.unevaluated = [*(self.outcome.unevaluated or []), line]

    def identity(self) -> dict[str, Any]:
        """Who runs this and from where (placeholders in a dry-run plan, which must be deterministic)."""
        if self.dry_run:
            return {"run_id": "RUN_ID", "user": "USER", "origin": "ORIGIN", "pid": 0, "command": self.task}
        return {
            "run_id": self.run_id,
            "user": self.user,
            "origin": self.origin,
            "pid": os.getpid(),
            "command": self.command_line or " ".join([typed(), *sys.argv[1:]]),
        }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
