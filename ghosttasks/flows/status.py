"""What is deployed where: state, lock, the LB's live upstream and (traffic.status) a sample of answers."""

from __future__ import annotations

from typing import Any

from ghosttasks.commands import nginx, render
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.workers import where_they_run
from ghosttasks.domain.errors import GhostError
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.reality import check
from ghosttasks.flows.steps.switching import missing_color_header
from ghosttasks.flows.steps.workers import sightings
from ghosttasks.records.deploy_lock import DeployLock
from ghosttasks.records.state_store import Store


def status(run: Run) -> dict[str, Any]:
    """The recorded state, the lock holder and what the LB selects, as one report; `disagreements` lists every
    way state.json differs from the LB and the containers (what the next changing command will repair)."""
    store = Store(run)
    state, disagreements = recorded_against_reality(run, store)
    report: dict[str, Any] = {
        "environment": run.env.name,
        "active": state.active,
        "previous": state.previous,
        "colors": {color: vars(info) for color, info in state.colors.items()},
        "updated_at": state.updated_at,
        "lock": DeployLock(run).holder(),
        "disagreements": disagreements,
    }
    if run.env.lb is not None:
        report["lb"] = read_selector(run)
    if run.env.app.workers:
        report["workers"] = workers_report(run, state.active)
    return report


def workers_report(run: Run, expected: str | None) -> list[str]:
    """Which colour's workers docker shows on each app host (`app1: blue worker, blue scheduler`), or why it
    could not be read."""
    try:
        return where_they_run([host.name for host in run.env.app_hosts], sightings(run, expected))  # type: ignore[arg-type]
    except (GhostError, ValueError) as exc:
        return [f"not read: {exc}"]


def recorded_against_reality(run: Run, store: Store) -> tuple[Any, list[str]]:
    """The recorded state and how it disagrees with reality; app hosts that cannot be read are said, and the
    LB alone is compared."""
    try:
        state, result = check(run, store)
        return state, result.lines()
    except GhostError as exc:
        state, result = check(run, store, containers=False)
        unread = f"the app hosts' containers could not be read ({exc}); compared with the LB only"
        return state, [unread, *result.lines()]


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
    env = run.env
    url = env.lb_health_url
    header = env.lb.color_header if env.lb else None
    sample = run.executor.probe(
        f"GET {url} {way(env, url)} x{samples} on new connections (colour from the {header} header)",
        lambda: probes.sample_traffic(url, samples, contract=env.health, color_header=header),
        assume=None,
    )
    if sample is not None:
        report["sample"] = {f"{c or '?'} {v or '?'}": n for (c, v), n in sample.answers.items()}
        report["sample_failures"] = len(sample.failures)
        report["sample_summary"] = sample.summary()
        if sample.uncoloured:
            report["sample_problem"] = missing_color_header(run, sample)
    return report
