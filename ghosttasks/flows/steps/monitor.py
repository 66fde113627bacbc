"""Post-switch monitoring with the runbook's automatic rollback triggers (ghosttasks.decisions.triggers).

Every interval: error rate and p95 of the active colour from Prometheus (or, when Prometheus is
unreachable, from a sample of requests through the LB), and one health check through the LB.
"""

from __future__ import annotations

import time

from ghosttasks.decisions import health_answers
from ghosttasks.decisions.migration_plan import plan_switch_back
from ghosttasks.decisions.percentiles import p95
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.triggers import Reading, Trigger, evaluate
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import Knowledge
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import marking
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.reality import begin, reconciled_state
from ghosttasks.flows.steps.switching import switch_traffic
from ghosttasks.observability import notify
from ghosttasks.observability.markers import Marker
from ghosttasks.records.state_store import Store
from ghosttasks.terminal.monitor_view import MonitorView, ViewState

LB_SAMPLE_REQUESTS = 10


class Watcher:
    """Reads the active colour's measurements each interval and keeps the consecutive health failure count."""

    def __init__(self, run: Run, color: Color, version: str | None) -> None:
        self.run, self.color, self.version = run, color, version
        self.consecutive_failures = 0
        self.prometheus_down_said = False

    def read(self) -> Reading:
        """This interval's reading: Prometheus (else an LB sample) plus one health check through the LB."""
        env = self.run.env
        reading = Reading()
        prometheus = env.monitoring.prometheus_url
        window = env.monitoring.rate_window
        try:
            if not prometheus:
                raise OSError("no monitoring.prometheus_url")
            queries = (
                probes.error_rate_query(self.color, self.version, window),
                probes.p95_query(self.color, self.version, window),
            )
            client = self.run.executor.http_client(prometheus)
            reading.error_rate, reading.p95 = (
                probes.prometheus_query(prometheus, query, client=client) for query in queries
            )
        except Exception as exc:  # any failure of the monitoring stack means: fall back, say so
            if not self.prometheus_down_said:
                self.run.out.warn(f"Prometheus unavailable ({exc}); measuring through the LB instead")
                self.prometheus_down_said = True
            reading.source = "LB sample"
            reading.error_rate, reading.p95 = self._sample_lb()
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
        said = health_answers.database(env.health, health.body) if health.status_code is not None else None
        reading.database_ok = said.ok if said else None
        reading.database = said.said if said else "database: no answer"
        if said and said.ok is False:
            reading.detail = said.said

    def _sample_lb(self) -> tuple[float | None, float | None]:
        import httpx

        durations, errors = [], 0
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for _ in range(LB_SAMPLE_REQUESTS):
                started = time.monotonic()
                try:
                    errors += client.get(self.run.env.lb_health_url).status_code >= 500
                except httpx.HTTPError:
                    errors += 1
                durations.append(time.monotonic() - started)
        return errors / len(durations), p95(durations)

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
        prometheus = env.monitoring.prometheus_url
        source = f"Prometheus {way(env, prometheus)}" if prometheus else "an LB sample"
        run.executor.probe(
            f"every {interval:g} s for {minutes:g} min: error rate and p95 of {color} "
            f"{state.colors[color].version} (its own samples only) from {source}, "
            f"health through the LB {way(env, env.lb_health_url)}; "
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
    if trigger is None:
        run.out.ok(f"{color} healthy for {minutes:g} min: no rollback trigger fired")
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
