"""Post-switch monitoring with the runbook's automatic rollback triggers (ghosttasks.decisions.triggers).

Every interval: error rate and p95 of the active colour from the metrics source (ghosttasks.flows.steps.metrics:
Prometheus, or the LB's access log of the users' requests), and one health check through the LB. A trigger that
could not be judged (no series, no requests, not configured) says so on each line; the end of the watch says in
how many readings (a warning when no reading judged it: it protected nothing), and so do the summary and the
history entry (`unevaluated`). It never passes as "healthy" in silence.
"""

from __future__ import annotations

import time

from ghosttasks.decisions import health_answers
from ghosttasks.decisions.migration_plan import plan_switch_back
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.triggers import DATABASE, Reading, Trigger, evaluate, never_judged, unjudged_summary
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import Knowledge
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import marking
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.metrics import MetricsReader, describe_source
from ghosttasks.flows.steps.reality import begin, reconciled_state
from ghosttasks.flows.steps.switching import switch_traffic
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.observability import notify
from ghosttasks.observability.markers import Marker
from ghosttasks.records.state_store import Store
from ghosttasks.terminal.monitor_view import MonitorView, ViewState


class Watcher:
    """Reads the active colour's measurements each interval and keeps the consecutive health failure count."""

    def __init__(self, run: Run, color: Color, version: str | None) -> None:
        self.run, self.color, self.version = run, color, version
        self.consecutive_failures = 0
        self.metrics = MetricsReader(run)

    def read(self) -> Reading:
        """This interval's reading: the metrics source's error rate and p95, plus one health check through the LB."""
        measured = self.metrics.read(self.color, self.version)
        reading = Reading(measured.error_rate, measured.p95, source=measured.source, unjudged=dict(measured.unjudged))
        self._read_health(reading)
        return reading

    def _read_health(self, reading: Reading) -> None:
        """One health check through the LB (health: settings): healthy, served by the watched colour (the LB's
        colour header), and what it says of the database (health.database_field; unset: not configured)."""
        env = self.run.env
        header = env.lb.color_header if env.lb else None
        health = probes.check_health(env.lb_health_url, contract=env.health, color_header=header)
        reading.healthy = health.ok
        reading.detail = health.error or ""
        if health.ok and health.color is not None and health.color != self.color:
            reading.healthy = False
            reading.detail = f"answered by {health.color} ({header}), not {self.color}"
        said = health_answers.database(env.health, health.body if health.status_code is not None else None)
        reading.database_ok = said.ok
        if said.ok is None:
            reading.unjudged[DATABASE] = said.said
        elif said.ok is False:
            reading.detail = said.said

    def judge(self, reading: Reading) -> Trigger | None:
        """Apply the thresholds to this reading, counting consecutive health failures across calls."""
        verdict = evaluate(reading, self.run.env.thresholds, self.consecutive_failures)
        self.consecutive_failures = verdict.consecutive_failures
        return verdict.trigger


def watch(run: Run, store: Store, state: DeployState, *, minutes: float, rollback: bool) -> Trigger | None:
    """Watch the active colour for `minutes`; on a trigger (and with rollback) switch back to the previous one."""
    env = run.env
    color = state.active
    interval = env.monitoring.interval_seconds
    if not color:
        run.out.warn("no active colour to monitor")
        return None
    if run.dry_run:  # a plan cannot watch for minutes: one line stands for the whole watch
        run.executor.probe(
            f"every {interval:g} s for {minutes:g} min: {describe_source(run, color, state.colors[color].version)}, "
            f"health through the LB {way(env, env.lb_health_url)} "
            f"(database: {env.health.database_field or 'not configured'}); "
            f"on a trigger switch back to {state.previous or 'the previous colour'}",
            lambda: None,
            assume=None,
        )
        return None
    watcher = Watcher(run, color, state.colors[color].version)
    started = time.monotonic()
    deadline = started + minutes * 60
    trigger = None
    view = ViewState(color, state.colors[color].version, minutes * 60, started, env.thresholds)
    with MonitorView(run.out, view, time.monotonic) as shown:
        while time.monotonic() < deadline:
            reading = watcher.read()
            trigger = watcher.judge(reading)
            shown.add(reading, watcher.consecutive_failures)
            if trigger:
                break
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    unjudged, never = unjudged_summary(view.readings), never_judged(view.readings)
    for line in unjudged:  # the summary and the history entry say it too
        run.record_not_judged(line)
    if trigger is None and never:
        run.out.warn(
            f"{color} watched for {minutes:g} min: no rollback trigger fired, but {' and '.join(never)} could not "
            f"be judged in any reading ({'; '.join(unjudged)}): they protected nothing"
        )
        return None
    if trigger is None:
        partly = f"; not judged in every reading: {'; '.join(unjudged)}" if unjudged else ""
        run.out.ok(f"{color} healthy for {minutes:g} min: no rollback trigger fired{partly}")
        return None
    run.out.fail(f"rollback trigger: {trigger.describe()}")
    if rollback:
        roll_back_to_previous(run, store, state, trigger)
    return trigger


def roll_back_to_previous(run: Run, store: Store, state: DeployState, trigger: Trigger) -> None:
    """Switch back to the previous colour, mark the watched one failed, record it and say so."""
    previous = state.previous
    previous_version = state.colors[previous].runs if previous else None
    if not previous or not previous_version:
        run.out.fail("no previous colour to roll back to: traffic stays where it is")
        return
    warning = plan_switch_back(state, Knowledge.recorded(state), state.database_revision, previous).warning
    if warning:
        run.out.fail(warning)
    begin(run, store, state, previous, previous_version, replaces=False, fails_other=True)
    switch_traffic(run, previous, previous_version)
    failed = state.active
    failed_version = state.colors[failed].version if failed else None
    if failed and failed_version:
        state.mark_failed(failed, failed_version)
    state.after_switch(previous)
    state.intent = None
    store.save(state)
    hand_over(run, state, "rollback.automatic", previous, previous_version)  # the workers follow the traffic back
    marking.publish(run, Marker("rolled_back", previous_version, previous, f"{run.task} (automatic)", time.time()))
    notify.send(
        run,
        "rollback.automatic",
        {"trigger": trigger.describe(), "from": failed, "to": previous, "version": previous_version},
    )
    run.out.ok(f"rolled back automatically to {previous} ({previous_version})")


def watch_serving(run: Run, *, minutes: float | None, rollback: bool) -> None:
    """verify.monitor: watch the serving colour; report a trigger (or, with rollback, act on it)."""
    store = Store(run)
    duration = run.env.thresholds.monitor_minutes if minutes is None else minutes
    with guarded(run, store, version=None, reason="monitor", lock=rollback) as entry:
        # watching only reads; watching to roll back changes traffic, so it decides from the reconciled state
        state = reconciled_state(run, store, entry) if rollback else store.load()
        trigger = watch(run, store, state, minutes=duration, rollback=rollback)
        if trigger:
            entry.result = "rolled_back" if rollback else "triggered"
            raise OperationFailed(f"rollback trigger: {trigger.describe()}")
