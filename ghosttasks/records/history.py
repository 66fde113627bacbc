"""The audit log (history.jsonl) beside state.json: one line per run (who, where from, what, result, failing
step, step timings), appended; the last lines read back."""

from __future__ import annotations

import json
from typing import Any

from ghosttasks.commands import remote_file
from ghosttasks.execution.run import Run
from ghosttasks.records.state_store import StateLocation


class History:
    """Appends to and reads history.jsonl on the state host through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        location = StateLocation.of(run.env)
        self.host = location.host
        self.path = location.path("history.jsonl")

    def append(self, entry: dict[str, Any]) -> None:
        """Append one audit line."""
        line = json.dumps(entry, sort_keys=True, default=str)
        self.run.executor.run(self.host, remote_file.append_line(self.path, line), what="history")

    def last(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` audit entries, oldest first (unreadable lines are shown as such)."""
        text = self.run.executor.run(self.host, remote_file.tail_lines(self.path, limit)).stdout
        return parse_history_lines(text)


def parse_history_lines(text: str) -> list[dict[str, Any]]:
    """history.jsonl lines as entries; a line that is not JSON becomes {"result": "unreadable", "line": N}."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            entries.append(entry if isinstance(entry, dict) else {"result": "unreadable", "line": number})
    return entries
