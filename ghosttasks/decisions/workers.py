"""PURE which colour's workers run where, and the moves that get them there, at each step of each flow.

Workers (app.workers: queue consumers and singletons such as a scheduler) are per-colour services that are
not behind the LB. The rule: **workers follow the traffic** — only the serving colour's workers run, and
never two colours' at once (nor two of a singleton, across colours and hosts).

The handover point, the same in every flow that moves traffic: **after the LB has switched**, first every
worker of the colour that stopped serving is stopped gracefully (its stop signal; it finishes the job in
hand within its stop timeout, else it is killed), then the serving colour's workers are started. So:
- until the switch, the old web and the old workers run together: every job the old web enqueued before
  the switch is either taken by an old worker (and finished during the graceful stop) or still in the
  queue, where the new workers take it — the queue outlives the handover, so nothing is lost; a job
  killed mid-run is redelivered by the app's own acknowledgement (the tool's part is the signal, the
  timeout, and saying which happened);
- a singleton is stopped (everywhere) before its successor starts anywhere: all stops come before all
  starts; the cost is a gap of at most the longest stop timeout during which no worker consumes (jobs
  wait in the queue, none is run twice);
- singletons stop first (the scheduler stops enqueuing before the consumers drain) and start last (the
  consumers are up before the scheduler enqueues).
Before the switch a deploy starts no worker of the new colour: it only makes sure the colour it is about
to replace runs none (a leftover of a killed run). A failed deploy stops the new colour's workers (if any
ran) and (re)starts the serving colour's: `start` is `up -d`, a no-op for a container already running.
The emergency rollback moves them only when the stops fit the time left in its budget; otherwise
it moves none and says what to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from ghosttasks.domain.colors import Color, other
from ghosttasks.domain.deploy_state import DeployState

Kind = Literal["consumer", "singleton"]
Action = Literal["stop", "start"]
Step = Literal[
    "deploy.before_switch",
    "deploy.after_switch",
    "deploy.failed",
    "rollback",
    "rollback.automatic",
    "rollback.emergency",
    "traffic.switch",
]
STEPS: tuple[Step, ...] = get_args(Step)
#: Seconds allowed after the kill for the container to be gone, on top of a worker's stop timeout.
KILL_GRACE_SECONDS = 5


@dataclass(frozen=True)
class Worker:
    """One worker service as configured, its hosts resolved (Environment.worker_hosts)."""

    name: str
    kind: Kind
    hosts: tuple[str, ...]
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 30


@dataclass(frozen=True)
class Move:
    """Stop or start one colour's worker service on one host."""

    action: Action
    color: Color
    worker: Worker
    host: str

    def describe(self) -> str:
        """`stop blue worker on app1 (SIGTERM, 30 s, then kill)` / `start green scheduler on app1`."""
        if self.action == "start":
            return f"start {self.color} {self.worker.name} on {self.host}"
        worker = self.worker
        return (
            f"stop {self.color} {worker.name} on {self.host} ({worker.stop_signal}, {worker.stop_timeout} s, then kill)"
        )


@dataclass(frozen=True)
class WorkerPlan:
    """The moves in order (every stop before every start), whose workers run once they are done (None:
    none), and, when the moves were left out (an emergency over its budget), why and what to run."""

    moves: tuple[Move, ...]
    runs: Color | None
    deferred: str | None = None

    @property
    def stops(self) -> tuple[Move, ...]:
        return tuple(move for move in self.moves if move.action == "stop")

    @property
    def starts(self) -> tuple[Move, ...]:
        return tuple(move for move in self.moves if move.action == "start")

    def lines(self) -> list[str]:
        """One line per move (or the deferral), for the dry-run plan and the summary."""
        if self.deferred:
            return [self.deferred]
        return [move.describe() for move in self.moves]


def _holds(state: DeployState, color: Color) -> bool:
    """`color` has containers of some version (a known-good one, or a failed deploy's)."""
    info = state.colors[color]
    return bool(info.version or info.failed_version)


def _moves(workers: Sequence[Worker], stop: Color | None, start: Color | None) -> tuple[Move, ...]:
    singletons_first = sorted(workers, key=lambda worker: worker.kind != "singleton")
    consumers_first = sorted(workers, key=lambda worker: worker.kind == "singleton")
    stops = [Move("stop", stop, w, host) for w in singletons_first for host in w.hosts] if stop else []
    starts = [Move("start", start, w, host) for w in consumers_first for host in w.hosts] if start else []
    return (*stops, *starts)


def stop_seconds(workers: Sequence[Worker]) -> int:
    """The longest a handover's stops can take: one worker after another (each on its hosts at once), each at
    most its timeout plus the kill's grace."""
    return sum(worker.stop_timeout + KILL_GRACE_SECONDS for worker in workers)


def plan_workers(
    workers: Sequence[Worker],
    state: DeployState,
    step: Step,
    color: Color,
    *,
    budget_seconds: float | None = None,
) -> WorkerPlan:
    """The worker moves of `step`.

    `state` is the deploy state before the step's own record (the colours' versions and failed marks as
    they are while the step runs: a deploy's new colour already holds its containers). `color` is the
    colour the step is about: a deploy's new colour (before/after the switch, failed), or the colour
    that serves once a rollback or switch is done. `budget_seconds`: the time an emergency rollback has
    left for the move (None: unbounded).
    """
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    if not workers:
        return WorkerPlan((), None)
    if step == "deploy.before_switch":
        serving = state.active if state.active and state.active != color else None
        return WorkerPlan(_moves(workers, color, None), serving)
    serving = other(color) if step == "deploy.failed" else color
    # a deploy's new colour holds its new containers whatever the record (not written until the deploy is done)
    starts = serving if step == "deploy.after_switch" or _holds(state, serving) else None
    plan = WorkerPlan(_moves(workers, other(serving), starts), starts)
    if step == "rollback.emergency" and budget_seconds is not None and stop_seconds(workers) > budget_seconds:
        runs = other(serving) if _holds(state, other(serving)) else None
        return WorkerPlan(
            (),
            runs,
            f"workers not moved: their stop takes up to {stop_seconds(workers)} s, the emergency budget has "
            f"{budget_seconds:g} s left; {other(serving)}'s workers may still run — run "
            f"`inv traffic.switch {serving}` to hand them over",
        )
    return plan


# -- what runs: read from docker, judged -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """One colour's worker container docker shows on an app host: its state and restart count."""

    host: str
    color: Color
    service: str
    status: str
    restarts: int


def where_they_run(hosts: Sequence[str], sightings: Sequence[Sighting]) -> list[str]:
    """One line per app host: `app1: blue worker, blue scheduler` (`app2: none`)."""
    lines = []
    for host in hosts:
        here = sorted(
            f"{s.color} {s.service}" + ("" if s.status == "running" else f" ({s.status})")
            for s in sightings
            if s.host == host
        )
        lines.append(f"{host}: {', '.join(here) or 'none'}")
    return lines


def judge_workers(
    workers: Sequence[Worker], serving: Color | None, before: Sequence[Sighting], after: Sequence[Sighting]
) -> list[str]:
    """What is wrong with the workers docker shows: the problems, none when exactly the serving colour's run.

    `before` and `after` are two looks some seconds apart (the same look twice: restarts are not judged).
    Exactly the serving colour's workers: a consumer on each of its hosts, a singleton once in the environment on
    its host; no other colour's; none in a restart loop (docker says `restarting`, or its restart count grew
    between the looks). Nothing serving: no worker should run."""
    problems = []
    earlier = {(s.host, s.color, s.service): s.restarts for s in before}
    for worker in workers:
        found = [s for s in after if s.service == worker.name]
        for sighting in found:
            where = f"{sighting.color} {worker.name} on {sighting.host}"
            if sighting.color != serving:
                problems.append(f"{where} runs, but {serving or 'no colour'} serves")
            elif sighting.host not in worker.hosts:
                problems.append(f"{where} runs on a host not among its hosts ({', '.join(worker.hosts)})")
            if sighting.status == "restarting":
                problems.append(f"{where} is restarting (restart count {sighting.restarts})")
            grew = sighting.restarts - earlier.get((sighting.host, sighting.color, sighting.service), sighting.restarts)
            if grew > 0:
                problems.append(f"{where} restarted {grew} time(s) while watched: a restart loop")
        if worker.kind == "singleton" and len(found) > 1:
            problems.append(
                f"{worker.name} is a singleton but {len(found)} run: "
                + ", ".join(f"{s.color} on {s.host}" for s in found)
            )
        if serving is None:
            continue
        for host in worker.hosts:
            if not any(s.host == host and s.color == serving for s in found):
                problems.append(f"{serving} {worker.name} does not run on {host}")
    return problems
