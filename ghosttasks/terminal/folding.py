"""Folding noisy commands (docker build, compose build / pull / up): their output goes to the run log,
the terminal gets one status line per host, and a failure shows the last lines under the error.

Which commands fold is decided from the command text (`noisy_phase`), so every flow's builds, pulls
and starts fold, whoever wrote them; `--verbose` streams them as before.
"""

from __future__ import annotations

import io
import re
import shlex
import threading
from collections import deque

from ghosttasks.domain.masking import mask
from ghosttasks.terminal.runlog import RunLog
from ghosttasks.terminal.step_events import StepFeed

TAIL_LINES = 30
NOISY_COMPOSE = ("build", "pull", "push", "up")
NOISY_DOCKER = ("build", "pull", "push")
#: docker compose options that take a value (the subcommand comes after them).
COMPOSE_VALUE_OPTIONS = frozenset(
    {"-p", "--project-name", "-f", "--file", "--env-file", "--profile", "--project-directory", "--ansi", "--progress"}
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BUILDKIT_STEP = re.compile(r"^#\d+\s+")


def noisy_phase(command: str) -> str | None:
    """`build`, `pull`, `push` or `up` when the command runs a docker (compose) command that prints
    progress; None for every other command (those stream, or stay hidden, as they always did)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word != "docker":
            continue
        rest = words[index + 1 :]
        if rest[:1] == ["compose"]:
            phase = _subcommand(rest[1:])
            if phase in NOISY_COMPOSE:
                return phase
        elif rest[:2] == ["buildx", "build"]:
            return "build"
        elif rest[:1] and rest[0] in NOISY_DOCKER:
            return rest[0]
    return None


def _subcommand(words: list[str]) -> str | None:
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in COMPOSE_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def status_of(line: str) -> str | None:
    """The short status a line of progress gives (BuildKit's step number dropped); None for a blank line."""
    text = BUILDKIT_STEP.sub("", ANSI.sub("", line).replace("\r", "")).strip()
    return " ".join(text.split()) or None


class Fold:
    """One folded command on one host: every line to the run log, its status to the feed, the last lines kept."""

    def __init__(self, host: str, phase: str, *, feed: StepFeed | None, log: RunLog | None) -> None:
        self.host, self.phase, self._feed, self._log = host, phase, feed, log
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self.lines = 0

    def start(self) -> None:
        if self._feed:
            self._feed.emit("host_start", host=self.host, text=self.phase)

    def writer(self, stream: str) -> _Lines:
        """The stream to give invoke for stdout or stderr."""
        return _Lines(self, stream)

    def line(self, stream: str, text: str) -> None:
        with self._lock:
            self._tail.append(text)
            self.lines += 1
        if self._log:
            self._log.output(self.host, stream, text)
        status = status_of(mask(text))
        if self._feed and status:
            self._feed.emit("host_line", host=self.host, text=status)

    def finish(self, ok: bool, duration: float) -> tuple[str, ...]:
        """Report the end; the last TAIL_LINES lines of output (both streams, in the order they came)."""
        if self._feed:
            where = "in the run log" if self._log else "not kept: no run log"
            self._feed.emit("host_finish", host=self.host, text=f"{self.lines} lines {where}", duration=duration, ok=ok)
        with self._lock:
            return tuple(self._tail)


class _Lines(io.TextIOBase):
    def __init__(self, fold: Fold, stream: str) -> None:
        self._fold, self._stream, self._buffer = fold, stream, ""

    def write(self, chunk: str) -> int:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._fold.line(self._stream, line.rstrip("\r"))
        return len(chunk)

    def flush(self) -> None:
        """Nothing: invoke flushes after every chunk, and a chunk may end mid-line (end() keeps the rest)."""

    def end(self) -> None:
        """The command ended: keep a last line that had no newline."""
        if self._buffer:
            self._fold.line(self._stream, self._buffer)
            self._buffer = ""


def failure_tails(error: BaseException) -> list[str]:
    """Under the error: the last lines each failed host's folded command printed (nothing for other errors)."""
    lines: list[str] = []
    for result in getattr(error, "results", None) or []:
        if not result.ok and result.tail:
            lines.append(f"last {len(result.tail)} lines of {result.host}'s output:")
            lines.extend(f"  {line}" for line in result.tail)
    return lines
