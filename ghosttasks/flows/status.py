"""What is deployed where: state, lock and the LB's live upstream."""

from __future__ import annotations

from typing import Any

from ghosttasks.commands import nginx
from ghosttasks.run import Run
from ghosttasks.state import Store


def status(run: Run) -> dict[str, Any]:
    store = Store(run)
    state = store.load()
    report: dict[str, Any] = {
        "environment": run.env.name,
        "active": state.active,
        "previous": state.previous,
        "colors": {color: vars(info) for color, info in state.colors.items()},
        "updated_at": state.updated_at,
        "lock": store.holder(),
    }
    lb = run.env.lb
    if lb is not None:
        header = run.executor.run(run.env.lb_host, nginx.read_header(lb.upstream_path), check=False).stdout
        live = dict(
            line[2:].split(": ", 1) for line in header.splitlines() if line.startswith("# ") and ": " in line[2:]
        )
        report["lb"] = {"color": live.get("color"), "version": live.get("version"), "rendered": live.get("rendered")}
    return report
