"""The audit log (history.jsonl) beside state.json: one line per run (who, where from, what, result, failing
step, step timings), appended; the last lines read back."""

from __future__ import annotations

from ghosttasks.commands import remote_file
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.execution.run import Run
from ghosttasks.records.state_store import StateLocation


class History:
    """Appends to and reads history.jsonl on the state host through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        location = StateLocation.of(run.env)
        self.host = location.host
        self.path = location.path("history.jsonl")

    def append(self, entry: HistoryEntry) -> None:
        """Append one audit line."""
        self.run.executor.run(self.host, remote_file.append_line(self.path, entry.to_json()), what="history")

    def last(self, limit: int) -> list[HistoryEntry]:
        """The last `limit` audit entries, oldest first (unreadable lines are shown as such)."""
        text = self.run.executor.run(self.host, remote_file.tail_lines(self.path, limit)).stdout
        return parse_history_lines(text)


def parse_history_lines(text: str) -> list[HistoryEntry]:
    """history.jsonl lines as entries; a line that is no entry becomes `result: unreadable` with its number."""
    return [HistoryEntry.parse(line, number) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
