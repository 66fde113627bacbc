"""The closing summary of a changing run: its steps with durations, what changed, what could not be judged,
where the run log is, and the command the user most likely wants next. Pure: built from the run's history entry
(with its steps)."""

from __future__ import annotations

from typing import Any

from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.masking import mask
from ghosttasks.terminal.command_name import as_typed
from ghosttasks.terminal.step_view import seconds


def changes(entry: HistoryEntry) -> list[tuple[str, str]]:
    """What the run changed, as (what, how) rows; only facts the entry records."""
    rows: list[tuple[str, str]] = []
    result = entry.result
    color, previous = entry.color, entry.previous_color
    version, previous_version = entry.version, entry.previous_version
    if result == "ok" and color:
        if previous == color:
            rows.append(("traffic", f"{color} (was already active)"))
        else:
            rows.append(("traffic", f"{previous} → {color}" if previous else f"→ {color}"))
    elif result == "rolled_back" and previous:
        rows.append(("traffic", f"back on {previous} ({previous_version})"))
    if result == "ok" and version:
        rows.append(("version", f"{version} (was {previous_version})" if previous_version else version))
    head = entry.alembic_head or entry.alembic_revision
    if head:
        rows.append(("alembic head", head))
    if entry.backup:
        rows.append(("backup", entry.backup))
    if entry.workers:
        rows.append(("workers", "; ".join(entry.workers)))
    if entry.queue:
        rows.append(("queue depth", entry.queue))
    return rows


def next_command(task: str, env: str, entry: HistoryEntry, service: str | None = None) -> tuple[str, str] | None:
    """(command, why) the user most likely runs next; None after a failure (the error's own hint says it).

    `service`: whose logs to look at after an automatic rollback (app.roles.public); None: every service's.
    """
    result = entry.result
    color, previous = entry.color, entry.previous_color
    version, previous_version = entry.version, entry.previous_version
    if result == "rolled_back":
        logs = f"inv stack.logs {service}" if service else "inv stack.logs"
        return f"{logs} --color {color} --env {env}", f"{color} still runs {version} for inspection"
    if result != "ok":
        return None
    if task == "deploy.prod" and previous_version:
        return f"inv deploy.rollback --env {env}", f"back to {previous_version} on {previous} if {version} misbehaves"
    if task == "traffic.switch" and previous and previous != color:
        return f"inv traffic.switch {previous} --env {env}", f"to send traffic back to {previous}"
    if task == "deploy.emergency-rollback":
        return f"inv deploy.unlock --env {env} --force", "when the incident is over (deploys stay frozen until then)"
    return f"inv deploy.status --env {env}", "what serves where"


def render_summary(task: str, env: str, entry: HistoryEntry, log_path: Any, service: str | None = None) -> Any:
    """The summary as one rich renderable: a table of the steps, then what changed, the run log and next."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = f"{task} on {env}: {entry.result or '?'} in {seconds(float(entry.seconds or 0))}"
    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    for step in entry.steps or []:
        table.add_row(step.name, "✓" if step.ok else "✗", seconds(step.seconds))
    lines = Text()
    for what, how in changes(entry):
        lines.append(f"{what + ':':<14}", style="bold")
        lines.append(mask(how) + "\n")
    for line in entry.unevaluated or []:  # nothing passes in silence: what could not be judged, each on its line
        lines.append(f"{'not judged:':<14}", style="bold yellow")
        lines.append(mask(line) + "\n", style="yellow")
    lines.append(f"{'run log:':<14}", style="bold")
    lines.append(f"{log_path if log_path else 'none (could not be written)'}\n")
    following = next_command(task, env, entry, service)
    if following:
        lines.append(f"{'next:':<14}", style="bold")
        lines.append(as_typed(following[0]), style="bold cyan")
        lines.append(f"   ({following[1]})\n")
    lines.rstrip()
    return Group(table, lines)
