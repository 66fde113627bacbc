"""The workers' handover (ghosttasks.decisions.workers) carried out: the stops, then the starts, each said; and
what the handover and the checks see afterwards: which colour's workers docker runs on each app host, and the
queue depth of app.queue_keys.

Nothing happens (no step, no line) when the environment declares no workers (app.workers).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

from ghosttasks.commands import redis_cli
from ghosttasks.commands import workers as commands
from ghosttasks.commands.facts import Unread
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.workers import (
    Move,
    Sighting,
    Step,
    Worker,
    WorkerPlan,
    plan_workers,
    stop_seconds,
    where_they_run,
)
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import color_project, shared_project

#: Seconds a stop's command may take beyond the worker's stop timeout (compose's ps, the kill, the inspect).
STOP_MARGIN_SECONDS = 60


def configured(run: Run) -> tuple[Worker, ...]:
    """The environment's workers, their hosts resolved."""
    env = run.env
    return tuple(
        Worker(name, settings.kind, tuple(env.worker_hosts(name)), settings.stop_signal, settings.stop_timeout)
        for name, settings in env.app.workers.items()
    )


def hand_over(
    run: Run,
    state: DeployState,
    step: Step,
    color: Color,
    version: str | None,
    *,
    budget_seconds: float | None = None,
) -> WorkerPlan | None:
    """Plan the workers' moves for `step` and carry them out: every stop (every worker at once, each on its hosts
    at once), then every start (the same); a failed move is raised once all of its kind ended. `version`: what the
    colour that is to run workers runs (its release dir starts them). None when no workers are configured; raises
    OperationFailed when a move failed."""
    workers = configured(run)
    if not workers:
        return None
    plan = plan_workers(workers, state, step, color, budget_seconds=budget_seconds)
    title = f"clear {color}'s workers" if step == "deploy.before_switch" else "hand over workers"
    with run.step(title):
        if budget_seconds is not None:
            run.note(f"time budget: {budget_seconds:g} s left; the workers' stops take up to {stop_seconds(workers)} s")
        if plan.deferred:
            run.out.warn(plan.deferred)
            return plan
        if not plan.moves:
            run.note("no worker to move")
        # every worker's stop at once (each on its hosts at once), then every start at once: stops before starts
        stops = [list(moves) for _, moves in groupby(plan.stops, key=lambda move: (move.color, move.worker.name))]
        _all(run, [lambda moves=moves: _stop(run, moves) for moves in stops])
        starts = [
            (start_color, list(moves))
            for (start_color, _), moves in groupby(plan.starts, key=lambda move: (move.color, move.worker.name))
        ]
        _all(run, [lambda color=color, moves=moves: _start(run, moves, color, version) for color, moves in starts])
        run.note(f"workers run: {plan.runs or 'none'}")
        if plan.moves:
            show_where_they_run(run, plan.runs)
    return plan


def _all(run: Run, works: list[Callable[[], None]]) -> None:
    """Each work in a thread of its own (a dry run: one after another, in order); waits for all, then raises the
    first failure in their order."""
    pending = [run.executor.start(work) for work in works]
    errors = []
    for item in pending:
        try:
            item.result()
        except Exception as exc:  # every work ends before the first failure is raised
            errors.append(exc)
    if errors:
        raise errors[0]


def _hosts(run: Run, moves: list[Move]) -> list[Host]:
    by_name = {host.name: host for host in run.env.app_hosts}
    return [by_name[move.host] for move in moves]


def _stop(run: Run, moves: list[Move]) -> None:
    worker, color = moves[0].worker, moves[0].color
    hosts = _hosts(run, moves)
    try:
        outcomes = run.executor.read_parallel(
            hosts,
            lambda host: commands.stop_fact(
                color_project(run, host, color), worker.name, worker.stop_signal, worker.stop_timeout
            ),
            timeout=worker.stop_timeout + STOP_MARGIN_SECONDS,
        )
    except ValueError as exc:  # the stop printed something else than it prints: not known whether it stopped
        raise OperationFailed(f"stop {color} {worker.name}: {exc}") from exc
    for host, outcome in zip(hosts, outcomes, strict=True):
        said = f"{host.name}: {color} {outcome.describe(worker.name, worker.stop_signal, worker.stop_timeout)}"
        if outcome.how == commands.KILLED:
            run.out.warn(said)
        else:
            run.note(said)


def _start(run: Run, moves: list[Move], color: Color, version: str | None) -> None:
    if version is None:
        raise OperationFailed(f"no version known for {color}: its workers cannot be started")
    worker = moves[0].worker
    hosts = _hosts(run, moves)
    run.executor.run_parallel(
        hosts,
        lambda host: commands.start(color_project(run, host, color, version), [worker.name]),
        what=f"start {color} {worker.name}",
    )
    run.note(f"{color} {worker.name} started on {', '.join(host.name for host in hosts)}")


def sightings(run: Run, expected: Color | None = None) -> list[Sighting]:
    """Every colour's worker containers on every app host, as docker shows them (not as any record says); a dry
    run assumes `expected`'s workers run where they belong."""
    env = run.env
    projects = {f"{env.app.project}-{color}": color for color in COLORS}
    workers = configured(run)

    def assumed(host: Host) -> list[commands.Container]:
        if expected is None:
            return []
        project = f"{env.app.project}-{expected}"
        return [commands.Container(project, w.name, "running", 0) for w in workers if host.name in w.hosts]

    answers = run.executor.read_parallel(env.app_hosts, lambda host: commands.containers_fact(assumed(host)))
    return [
        Sighting(host.name, projects[c.project], c.service, c.status, c.restarts)
        for host, found in zip(env.app_hosts, answers, strict=True)
        for c in found
        if c.project in projects and c.service in env.app.workers
    ]


def show_where_they_run(run: Run, expected: Color | None) -> list[str] | None:
    """Say which colour's workers docker shows on each app host, and put it in the closing summary; a host that
    cannot be read is said (a warning: the moves are done). None when no workers are configured."""
    if not run.env.app.workers:
        return None
    try:
        lines = where_they_run([host.name for host in run.env.app_hosts], sightings(run, expected))
    except (OperationFailed, ValueError) as exc:
        run.out.warn(f"which workers run could not be read: {exc}")
        return None
    for line in lines:
        run.note(f"workers {line}")
    if run.outcome is not None:
        run.outcome.workers = lines
    return lines


def queue_depths(run: Run) -> dict[str, int] | Unread | None:
    """The length of each of app.queue_keys, read by redis-cli in the redis service on the db host (at
    127.0.0.1, then at the db host's address); None when no key is configured."""
    env = run.env
    keys = env.app.queue_keys
    if not keys:
        return None
    if not env.hosts_with("db"):  # a managed database: no host of this inventory runs the redis service
        return Unread("no host has the role 'db' to read Redis on (app.queue_keys needs the redis service there)")
    reasons = []
    for address in (None, env.db_host.address):
        fact = redis_cli.queue_depth(
            shared_project(run), service=env.database.redis_service, keys=keys, address=address
        )
        answer = run.executor.read(env.db_host, fact)
        if not isinstance(answer, Unread):
            return answer
        reasons.append(answer.reason)
    return Unread("; ".join(reasons))


def describe_depths(depths: dict[str, int]) -> str:
    """`ghostworks:jobs 0, ghostworks:jobs:processing:127.0.0.11 1`."""
    return ", ".join(f"{key} {count}" for key, count in depths.items()) or "no key"


def say_queue_depth(run: Run, when: str) -> dict[str, int] | None:
    """Read and say the queue depth (`when`: before/after); unreadable: said as not judged. None: not read."""
    if not run.env.app.queue_keys:
        return None
    with run.step(f"queue depth {when}"):
        try:
            depths = queue_depths(run)
        except OperationFailed as exc:
            depths = Unread(str(exc))
        if isinstance(depths, Unread) or depths is None:
            run.not_judged(f"queue depth {when}", depths.reason if depths else "no key")
            return None
        run.note(f"queue depth {when}: {describe_depths(depths)}")
        return depths


def queue_change(before: dict[str, int] | None, after: dict[str, int] | None) -> str | None:
    """`ghostworks:jobs 12 → 0` per key read both times (a key seen once: `? → 3`); None when neither was read."""
    if before is None and after is None:
        return None
    keys = list(dict.fromkeys([*(before or {}), *(after or {})]))
    return ", ".join(f"{key} {(before or {}).get(key, '?')} → {(after or {}).get(key, '?')}" for key in keys)
