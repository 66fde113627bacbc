"""The runbook's performance troubleshooting: what the database does (db.activity, db.slow), how container
memory moves (stack.memory) and the slowest requests in the api logs (verify.logs --slow). All read-only."""

from __future__ import annotations

import json
import time

from ghosttasks.commands import compose, postgres
from ghosttasks.commands.facts import Fact
from ghosttasks.decisions import db_activity, memory_growth, slow_requests
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.database_access import DatabaseAccess, database_access
from ghosttasks.flows.steps.projects import color_project


def _database_read(run: Run, access: DatabaseAccess, build) -> str:
    """A psql read on the database, where its client runs (ghosttasks.flows.steps.database_access)."""
    db = run.env.database
    return access.read(run, build(access.client, user=db.user, database=db.name))


def _host_addresses(run: Run) -> dict[str, str]:
    return {host.address: host.name for host in run.env.hosts}


def activity(run: Run, *, threshold: float, as_json: bool) -> db_activity.Activity:
    """db.activity: long-running queries, idle transactions, the blocking tree, connections per client."""
    access = database_access(run)
    text = _database_read(run, access, postgres.activity)
    reading = db_activity.parse(text)
    addresses = _host_addresses(run)
    if as_json:
        run.out.json(db_activity.as_json(reading, addresses, threshold))
        return reading
    run.out.step(f"{access.host.name}: {db_activity.usage_line(reading)}")
    rows = [
        [s.pid, s.application, f"{s.query_seconds:.1f} s", s.state, s.waiting, s.query]
        for s in db_activity.long_running(reading, threshold)
    ]
    if rows:
        run.out.table(
            f"queries running longer than {threshold:g} s", ["pid", "app", "running", "state", "wait", "query"], rows
        )
    else:
        run.out.ok(f"no query has run longer than {threshold:g} s")
    idle = db_activity.idle_in_transaction(reading)
    if idle:
        run.out.table(
            "idle in transaction (holding their locks)",
            ["pid", "app", "transaction", "last query"],
            [[s.pid, s.application, f"{s.xact_seconds or 0:.1f} s", s.query] for s in idle],
        )
    tree = db_activity.blocking_tree(reading)
    if tree:
        run.out.warn("blocking: who waits on whom")
        for line in tree:
            run.out.info(f"  {line}")
    else:
        run.out.ok("no session waits on another's lock")
    groups = db_activity.connection_groups(reading, addresses)
    run.out.table(
        "connections per application and client",
        ["application", "client", "host", "colour", "count", "states"],
        [
            [
                g.application or "-",
                g.client or "-",
                g.host,
                g.color,
                g.count,
                ", ".join(f"{k} {v}" for k, v in sorted(g.states.items())),
            ]
            for g in groups
        ],
    )
    per_color = ", ".join(f"{color} {count}" for color, count in db_activity.per_color(groups).items())
    run.out.info(f"per colour: {per_color}")
    return reading


def slow(run: Run, *, limit: int, as_json: bool) -> list[db_activity.Statement]:
    """db.slow: the top statements by total and by mean time from pg_stat_statements (or how to enable it)."""
    access = database_access(run)
    present = json.loads(_database_read(run, access, postgres.statements_present))
    missing = db_activity.statements_missing(present)
    if missing:
        raise OperationFailed(missing, hint="db.activity works without it")
    text = _database_read(run, access, lambda client, **kw: postgres.statements(client, limit=limit, **kw))
    found = db_activity.parse_statements(text)
    if as_json:
        run.out.json([vars(statement) for statement in found])
        return found
    columns = ["calls", "total ms", "mean ms", "rows", "query"]
    for by, title in (("total_ms", "total"), ("mean_ms", "mean")):
        run.out.table(
            f"top {limit} statements by {title} time",
            columns,
            [
                [s.calls, f"{s.total_ms:.1f}", f"{s.mean_ms:.2f}", s.rows, s.query]
                for s in db_activity.top_statements(found, by, limit)
            ],
        )
    return found


def memory(
    run: Run, *, minutes: float, interval: float, threshold: float, as_json: bool
) -> list[memory_growth.Verdict]:
    """stack.memory: sample every container's memory on the app and db hosts, judge who only grows."""
    hosts = list({host.name: host for host in [*run.env.app_hosts, *run.env.hosts_with("db")]}.values())
    samples = max(memory_growth.MIN_SAMPLES, int(minutes * 60 / interval) + 1)
    count = 1 if run.dry_run else samples  # a plan shows one sample and says how many a run takes
    fact = Fact("docker stats and inspect", compose.memory_sample(), lambda answer: answer.stdout, _ASSUMED_SAMPLE)
    series: dict[tuple[str, str], list[tuple[float, memory_growth.Reading]]] = {}
    started = time.monotonic()
    if run.dry_run:
        run.note(f"sampled {samples} times, every {interval:g} s")
    for index in range(count):
        if index:
            time.sleep(max(0.0, started + index * interval - time.monotonic()))
        at = time.monotonic() - started
        for host, text in zip(hosts, run.executor.read_parallel(hosts, lambda _: fact), strict=True):
            for name, reading in memory_growth.parse_sample(text).items():
                series.setdefault((host.name, name), []).append((at, reading))
        if not as_json and not run.dry_run:
            run.out.info(
                f"sample {index + 1} of {count}: {sum(1 for s in series.values() if len(s) == index + 1)} containers"
            )
    verdicts = [memory_growth.judge(host, name, points, threshold) for (host, name), points in sorted(series.items())]
    if as_json:
        run.out.json(
            [
                {
                    "host": v.host,
                    "container": v.name,
                    "first_bytes": v.first,
                    "last_bytes": v.last,
                    "per_minute_bytes": round(v.per_minute),
                    "restarts": v.restarts,
                    "samples": v.samples,
                    "flagged": v.flagged,
                    "reason": v.reason,
                }
                for v in verdicts
            ]
        )
        return verdicts
    run.out.table(
        f"container memory over {minutes:g} min (flagged: only grows, faster than {threshold:g} MiB/min)",
        ["host", "container", "first", "last", "per minute", "restarts", "trend", "verdict"],
        [
            [
                v.host,
                v.name,
                memory_growth.mib(v.first),
                memory_growth.mib(v.last),
                f"{v.per_minute / memory_growth.MIB:+.2f} MiB",
                v.restarts,
                v.sparkline,
                ("LEAK? " if v.flagged else "") + v.reason,
            ]
            for v in verdicts
        ],
    )
    for v in verdicts:
        if v.flagged:
            run.out.warn(f"{v.host}: {v.name} {v.reason}")
    return verdicts


_ASSUMED_SAMPLE = (
    "ghostworks-blue-api-1\t50MiB / 7.7GiB\n--- inspect\n/ghostworks-blue-api-1\t0\t2026-01-01T00:00:00Z\n"
)


def slow_requests_in_logs(run: Run, color: Color | None, seconds: float, since: str | None, as_json: bool) -> list:
    """verify.logs --slow: the slowest requests per endpoint pattern in the api logs, with their request ids."""
    from ghosttasks.flows.steps.projects import serving_state

    env = run.env
    services = env.app.roles.logs
    missing = slow_requests.missing_groups(env.logs)
    if missing:
        run.not_judged(
            "slow requests", f"logs.pattern has no named group {' or '.join(missing)}, which a request line needs"
        )
        return []
    state = serving_state(run)
    colors: list[Color] = [color] if color else ([state.active] if state and state.active else list(COLORS))
    found: list[slow_requests.Request] = []
    for each in colors:
        results = run.executor.run_parallel(
            env.app_hosts,
            lambda host, each=each: compose.logs_since(color_project(run, host, each), services, since, 50000),
            what=f"docker compose logs {' '.join(services)} ({each})",
            check=False,
        )
        for result in results:
            found += slow_requests.parse_requests(result.stdout, env.logs)
    endpoints = slow_requests.slowest(found, seconds)
    if as_json:
        run.out.json(
            [
                {"endpoint": e.pattern, "requests": e.count, "slow": e.slow, "slowest": [vars(r) for r in e.slowest]}
                for e in endpoints
            ]
        )
        return endpoints
    if not found:
        where = (
            "no log line matched by logs.pattern with a duration and a path"
            if env.logs.format == "text"
            else f"no log line with `{env.logs.duration_key}` and `{env.logs.path_key}` (logs.duration_key, "
            "logs.path_key)"
        )
        run.not_judged("slow requests", where)
        return endpoints
    if not endpoints:
        run.out.ok(f"none of {len(found)} requests took {seconds:g} s or longer")
        return endpoints
    na = slow_requests.NOT_AVAILABLE
    rows = []
    for e in endpoints:
        for r in e.slowest:
            rows.append(
                [
                    e.pattern,
                    f"{e.slow} of {e.count}",
                    f"{r.seconds:.3f} s",
                    r.status or na,
                    r.request_id or na,
                    r.at or na,
                ]
            )
    run.out.table(
        f"requests of {seconds:g} s or longer, per endpoint",
        ["endpoint", "slow", "took", "status", "request id", "at"],
        rows,
    )
    if any(r.method is None for e in endpoints for r in e.slowest):
        run.out.info(f"method: {na} in the app's log lines (the endpoint is the path alone)")
    return endpoints
