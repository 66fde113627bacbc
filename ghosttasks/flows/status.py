"""What is deployed where: state, lock, the LB's live upstream and (traffic.status) a sample of answers."""

from __future__ import annotations

from typing import Any

from ghosttasks import probes
from ghosttasks.commands import nginx
from ghosttasks.lock import DeployLock
from ghosttasks.probe_routes import way
from ghosttasks.run import Run
from ghosttasks.state import Store


def status(run: Run) -> dict[str, Any]:
    """The recorded state, the lock holder and the LB's live upstream header, as one report."""
    state = Store(run).load()
    report: dict[str, Any] = {
        "environment": run.env.name,
        "active": state.active,
        "previous": state.previous,
        "colors": {color: vars(info) for color, info in state.colors.items()},
        "updated_at": state.updated_at,
        "lock": DeployLock(run).holder(),
    }
    lb = run.env.lb
    if lb is not None:
        header = run.executor.run(run.env.lb_host, nginx.read_header(lb.upstream_path), check=False).stdout
        report["lb"] = parse_upstream_header(header)
    return report


def parse_upstream_header(header: str) -> dict[str, str | None]:
    """colour, version and render time from the `# key: value` comment lines of the upstream file."""
    live = dict(line[2:].split(": ", 1) for line in header.splitlines() if line.startswith("# ") and ": " in line[2:])
    return {"color": live.get("color"), "version": live.get("version"), "rendered": live.get("rendered")}


def traffic_status(run: Run, samples: int) -> dict[str, Any]:
    """status() plus `samples` requests through the LB: which colour and version really answer."""
    report = status(run)
    url = run.env.lb_health_url
    sample = run.executor.probe(
        f"GET {url} {way(run.env, url)} x{samples} on new connections",
        lambda: probes.sample_traffic(url, samples),
        assume=None,
    )
    if sample is not None:
        report["sample"] = {f"{c or '?'} {v or '?'}": n for (c, v), n in sample.answers.items()}
        report["sample_failures"] = len(sample.failures)
        report["sample_summary"] = sample.summary()
    return report
