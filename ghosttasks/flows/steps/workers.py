"""The workers' handover (ghosttasks.decisions.workers) carried out: the stops, then the starts, each said.

Nothing happens (no step, no line) when the environment declares no workers (app.workers).
"""

from __future__ import annotations

from itertools import groupby

from ghosttasks.commands import workers as commands
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.workers import Move, Step, Worker, WorkerPlan, plan_workers, stop_seconds
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import color_project

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
    """Plan the workers' moves for `step` and carry them out: every stop (one worker after another, each on
    its hosts at once), then every start. `version`: what the colour that is to run workers runs (its release
    dir starts them). None when no workers are configured; raises OperationFailed when a move failed."""
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
        for (_, _), moves in groupby(plan.stops, key=lambda move: (move.color, move.worker.name)):
            _stop(run, list(moves))
        for (start_color, _), moves in groupby(plan.starts, key=lambda move: (move.color, move.worker.name)):
            _start(run, list(moves), start_color, version)
        run.note(f"workers run: {plan.runs or 'none'}")
    return plan


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
