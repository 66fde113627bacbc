"""The per-run log file: every command with host, exit code and duration, every line a folded (noisy)
command printed, and every line the terminal was shown, masked (JSON lines)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from ghosttasks.domain.masking import mask


def log_dir() -> Path:
    """Where run logs go: $GHOST_LOG_DIR, else $XDG_STATE_HOME/ghosttasks/runs."""
    configured = os.environ.get("GHOST_LOG_DIR")
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "ghosttasks" / "runs"


class RunLog:
    """Appends one JSON object per event to <log dir>/<UTC time>-<task>-<run id>.log (mode 0600)."""

    def __init__(self, task: str, run_id: str, directory: Path | None = None) -> None:
        directory = directory or log_dir()
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = directory / f"{stamp}-{task.replace('.', '-')}-{run_id}.log"
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(descriptor, "a", buffering=1)
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        """Append one masked JSON event with the current time."""
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": kind, **fields}
        line = mask(json.dumps(record, sort_keys=True, default=str))
        with self._lock:
            if self._file.closed:  # a late event (an unexpected error's traceback) after the run finished
                self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 (closed by close())
            self._file.write(line + "\n")

    def command(self, result: Any) -> None:
        """Record one command: host, exit code, duration."""
        self.event(
            "command",
            host=result.host,
            command=result.command,
            exit_code=result.exit_code,
            duration=round(result.duration, 3),
            timed_out=result.timed_out,
        )

    def output(self, host: str, stream: str, line: str) -> None:
        """Record one line a folded command printed (terminal.folding): the terminal shows only its status."""
        self.event("output", host=host, stream=stream, line=line)

    def printed(self, stream: str, line: str) -> None:
        """Record one line ghosttasks printed (ghosttasks.terminal.output): kept when the terminal is gone."""
        self.event("printed", stream=stream, line=line)

    def upload(self, host: str, path: str, mode: int, duration: float) -> None:
        """Record one upload: host, path, mode, duration."""
        self.event("upload", host=host, path=path, mode=f"{mode:04o}", duration=round(duration, 3))

    def close(self) -> None:
        """Close the log file."""
        self._file.close()
