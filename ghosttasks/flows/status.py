"""What is deployed where: state, lock, the LB's live upstream and (traffic.status) a sample of answers."""

from __future__ import annotations

from typing import Any

from ghosttasks.commands import assumptions, nginx, render
from ghosttasks.decisions import lb_fleet
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.workers import where_they_run
from ghosttasks.domain.errors import GhostError
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.canary_split import shares
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
    """What the LBs really select (each one's flag file, all read at once), and whether each config is the one the
    inventory renders: `color` is the colour every LB selects (None when they disagree or one cannot be read, and
    `problem` says so with the command that repairs it); `hosts` has each LB's own answer when there are several."""
    env = run.env
    assert env.lb is not None
    paths = [env.lb.upstream_path, env.selector_path]
    wanted = [render.upstream(env), render.selector(env)]
    fact = nginx.lb_view(paths, env.flag_path, assumed=wanted, selected=assumptions.STATE.active or "blue")
    views = run.executor.read_parallel(env.lb_hosts, lambda host: fact)
    hosts: dict[str, dict[str, Any]] = {}
    for host, view in zip(env.lb_hosts, views, strict=True):
        if isinstance(view, str):
            hosts[host.name] = {"color": None, "config_current": None, "error": view}
        else:
            hosts[host.name] = {"color": view[1], "config_current": view[0] == wanted}
    color, problem = lb_fleet.agreement({name: info["color"] for name, info in hosts.items()})
    report: dict[str, Any] = {
        "color": color,
        "config_current": all(info["config_current"] for info in hosts.values()),
    }
    if len(hosts) > 1:
        report["hosts"] = hosts
    if problem:
        report["problem"] = problem.replace("<colour>", f"<colour> --env {env.name}")
    return report


def traffic_status(run: Run, samples: int, share_requests: int = 0) -> dict[str, Any]:
    """status() plus `samples` requests through the LB: which colour and version really answer; the share per
    colour the canary buckets set and, with share_requests, the share measured through the LB (that many
    requests, each a new client with its own canary cookie)."""
    report = status(run)
    env = run.env
    if env.lb is not None:
        report["shares"] = {"set": shares(run, report["lb"].get("color"))}
        if share_requests:
            cookie, header = env.canary.cookie, env.lb.color_header
            measured = run.executor.probe(
                f"GET {env.lb_health_url} {way(env, env.lb_health_url)} x{share_requests}, each with its own "
                f"{cookie} cookie (a new client to the buckets); colour from the {header} header",
                lambda: probes.sample_shares(env.lb_health_url, share_requests, cookie=cookie, color_header=header),
                assume=None,
            )
            if measured is not None:
                report["shares"]["measured"] = {
                    str(color): round(100 * count / max(1, sum(measured.colours.values())), 1)
                    for color, count in sorted(measured.colours.items(), key=lambda item: str(item[0]))
                }
                report["shares"]["requests"] = measured.total
                report["shares"]["failures"] = len(measured.failures)
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
