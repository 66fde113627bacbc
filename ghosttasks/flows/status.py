"""What is deployed where: state, lock, the LB's live upstream and (traffic.status) a sample of answers."""

from __future__ import annotations

from typing import Any

from ghosttasks import probes, render
from ghosttasks.commands import nginx
from ghosttasks.lock import DeployLock
from ghosttasks.probe_routes import way
from ghosttasks.run import Run
from ghosttasks.state import Store


def status(run: Run) -> dict[str, Any]:
    """The recorded state, the lock holder and what the LB selects, as one report."""
    state = Store(run).load()
    report: dict[str, Any] = {
        "environment": run.env.name,
        "active": state.active,
        "previous": state.previous,
        "colors": {color: vars(info) for color, info in state.colors.items()},
        "updated_at": state.updated_at,
        "lock": DeployLock(run).holder(),
    }
    if run.env.lb is not None:
        report["lb"] = read_selector(run)
    return report


def read_selector(run: Run) -> dict[str, Any]:
    """What the LB really selects (the flag file), and whether its config is the one the inventory renders."""
    env = run.env
    assert env.lb is not None
    paths = [env.lb.upstream_path, env.selector_path]
    answer = run.executor.run(env.lb_host, nginx.read_config(paths, env.flag_path), check=False).stdout
    live, selected = nginx.parse_config(answer, len(paths))
    return {"color": selected, "config_current": live == [render.upstream(env), render.selector(env)]}


def traffic_status(run: Run, samples: int) -> dict[str, Any]:
    """status() plus `samples` requests through the LB: which colour and version really answer."""
    report = status(run)
    url = run.env.lb_health_url
    sample = run.executor.probe(
        f"GET {url} {way(run.env, url)} x{samples} on new connections",
        lambda: probes.sample_traffic(url, samples),
        assume=None,
    )
    lb, active = report.get("lb", {}), report["active"]
    if lb.get("color") and active and lb["color"] != active:
        report["disagreement"] = f"the LB selects {lb['color']} but state.json says {active} is active"
    if sample is not None:
        report["sample"] = {f"{c or '?'} {v or '?'}": n for (c, v), n in sample.answers.items()}
        report["sample_failures"] = len(sample.failures)
        report["sample_summary"] = sample.summary()
    return report
