"""The canary before a prod switch (deploy.prod --canary 5,25,50) and by hand (traffic.canary PERCENT).

A deploy's canary walks its steps after the smoke tests: each step sends a sticky share of clients to the new
colour (the LB's bucket files, ghosttasks.flows.steps.canary_split: no reload), then reads both colours every
monitoring.interval_seconds and lets the pure decision (ghosttasks.decisions.canary_steps) promote, hold or abort.
The last step promoted, the full switch happens as without a canary (flag, verify, monitor).

Abort, failure, Ctrl-C or SIGTERM: every bucket goes back to the stable colour in one atomic change before the
error goes on. A lost connection or a killed run cannot do that from here: a deploy's buckets hold a lease the
run renews every reading, and a watchdog on the LB clears them when it runs out (lease_seconds()).
"""

from __future__ import annotations

import time
from typing import Any

from ghosttasks.decisions.canary_steps import ABORT, PROMOTE, ColourReading, StepDecision, decide
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.canary_split import clear_canary, renew_canary, set_canary
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.metrics import Measured, MetricsReader, describe_source, source_of
from ghosttasks.flows.steps.reality import reconciled_state
from ghosttasks.flows.steps.switching import lb_config_current, switch_traffic
from ghosttasks.records.deploy_lock import DeployLock
from ghosttasks.records.state_store import Store
from ghosttasks.terminal.canary_view import CanaryView, CanaryViewState

#: A deploy canary's lease: this many reading intervals (at least LEASE_MIN_SECONDS) without a renewal and the
#: LB's watchdog puts every bucket back on the stable colour.
LEASE_INTERVALS = 3
LEASE_MIN_SECONDS = 15


def lease_seconds(run: Run) -> int:
    """How long the LB keeps a deploy canary's buckets without hearing from the run."""
    return int(max(LEASE_MIN_SECONDS, LEASE_INTERVALS * run.env.monitoring.interval_seconds))


def colour_reading(measured: Measured) -> ColourReading:
    """A metrics reading as the decision reads it (why: the first reason a value is missing)."""
    why = next(iter(measured.unjudged.values()), None)
    return ColourReading(measured.error_rate, measured.p95, measured.requests, why)


def walk(run: Run, state: DeployState, target: Color, version: str, steps: list[int], entry: HistoryEntry) -> None:
    """Walk the canary's steps on `target` (running `version`) against the serving colour; return when the last
    step is promoted. An abort clears every bucket and raises OperationFailed naming the step, the metric and
    both values; any other exit clears them too."""
    env = run.env
    stable = state.active
    if stable is None:
        run.note("canary: nothing serves yet (first deploy): no colour to compare with, switching without a canary")
        return
    stable_version = state.colors[stable].runs
    records: list[dict[str, Any]] = []
    entry.canary = records
    if run.dry_run:
        _plan(run, stable, stable_version, target, version, steps)
        return
    if source_of(run) == "none":
        raise OperationFailed(
            "a canary needs metrics to judge and metrics.source is none: nothing was split",
            hint="set metrics.source (or monitoring.prometheus_url), or deploy without --canary",
        )
    if not lb_config_current(run):  # a selector without buckets would ignore the canary: install the current one
        run.note("canary: the LB config is not the one the inventory renders (no buckets yet): installing it first")
        switch_traffic(run, stable, stable_version or "?")
    reader = MetricsReader(run)
    view_state = CanaryViewState(f"{target} {version}", f"{stable} {stable_version}", env.thresholds, env.canary)
    cleared = False
    try:
        with CanaryView(run.out, view_state, time.monotonic) as view:
            for percent in steps:
                with run.step(f"canary {percent}%"):
                    decision = _step(run, reader, view, percent, (target, version), (stable, stable_version))
                    records.append(_record(percent, decision))
                    view.finish_step(f"canary {percent}%: {decision.action} ({decision.reason})")
                    if decision.action == ABORT:
                        clear_canary(run)
                        cleared = True
                        entry.result = "canary_aborted"
                        entry.trigger = _trigger(percent, decision, target, version, stable, stable_version)
                        raise OperationFailed(
                            f"canary aborted: {entry.trigger}; every client is back on {stable} ({stable_version})",
                            hint=f"{target} still runs {version} for inspection: "
                            f"inv stack.logs {env.app.roles.public} --color {target}",
                        )
                    run.out.ok(f"canary {percent}%: promoted ({decision.reason})")
    except BaseException:
        if not cleared:
            _clear_after_exit(run, stable)
        raise


def _clear_after_exit(run: Run, stable: Color) -> None:
    """Best effort after a failure or an interruption: every bucket back on the stable colour (the lease's
    watchdog does it when the LB cannot be reached)."""
    try:
        clear_canary(run)
        run.out.warn(f"canary stopped: every client is back on {stable}")
    except BaseException as exc:  # never hide the run's own error; the watchdog clears the buckets
        run.out.warn(
            f"could not clear the canary buckets ({exc}): the LB clears them by itself within "
            f"{lease_seconds(run)} s (the canary's lease)"
        )


def _step(
    run: Run,
    reader: MetricsReader,
    view: CanaryView,
    percent: int,
    canary: tuple[Color, str],
    stable: tuple[Color, str | None],
) -> StepDecision:
    """One step: the share set on the LB, then a reading every interval until the decision promotes or aborts."""
    env = run.env
    if not DeployLock(run).still_held():
        raise OperationFailed(
            "the deploy lock is no longer ours (an emergency rollback froze deploys?): stopping the canary",
            hint="see inv deploy.status",
        )
    set_canary(run, canary[0], percent, lease_seconds=lease_seconds(run))
    view.step(percent)
    started = time.monotonic()
    inconclusive = 0
    while True:
        time.sleep(env.monitoring.interval_seconds)
        renew_canary(run)
        canary_reading = colour_reading(reader.read(canary[0], canary[1], count=True))
        stable_reading = colour_reading(reader.read(stable[0], stable[1], count=True))
        decision = decide(
            canary_reading,
            stable_reading,
            thresholds=env.thresholds,
            settings=env.canary,
            elapsed=time.monotonic() - started,
            inconclusive_before=inconclusive,
        )
        view.add(canary_reading, stable_reading, decision)
        if decision.action in (PROMOTE, ABORT):
            return decision
        inconclusive = decision.inconclusive


def _record(percent: int, decision: StepDecision) -> dict[str, Any]:
    """A step as the history entry keeps it."""
    record: dict[str, Any] = {"percent": percent, "result": decision.action, "reason": decision.reason}
    if decision.action == ABORT:
        record.update(metric=decision.metric, canary=decision.canary, stable=decision.stable)
    return record


def _trigger(
    percent: int, decision: StepDecision, target: Color, version: str, stable: Color, stable_version: str | None
) -> str:
    """The abort in one line: step, metric, both values, why."""
    return (
        f"step {percent}%: {decision.metric} {decision.canary} on {target} {version} vs {decision.stable} on "
        f"{stable} {stable_version} ({decision.reason})"
    )


def _plan(run: Run, stable: Color, stable_version: str | None, target: Color, version: str, steps: list[int]) -> None:
    """A dry run's lines: each step's share and what is judged."""
    env, settings, limits = run.env, run.env.canary, run.env.thresholds
    for percent in steps:
        with run.step(f"canary {percent}%"):
            set_canary(run, target, percent, lease_seconds=lease_seconds(run))
            run.executor.probe(
                f"every {env.monitoring.interval_seconds:g} s for at least {settings.step_seconds:g} s, renewing the "
                f"lease: {describe_source(run, target, version)}; the same for the stable {stable} "
                f"{stable_version or '?'}; and each colour's requests in the window (fewer than "
                f"{settings.min_requests:g} on {target}: inconclusive, the step holds, at most "
                f"{settings.max_inconclusive_readings} readings in a row). Abort, every bucket back to {stable}, when "
                f"{target}'s error rate > {limits.error_rate:.0%} or > {stable}'s + {settings.error_rate_margin:.0%}, "
                f"or its p95 > {limits.p95_seconds:g} s or > max({stable}'s x{settings.p95_ratio:g}, "
                f"+ {settings.p95_margin_seconds:g} s)",
                lambda: None,
                assume=None,
            )


def set_by_hand(run: Run, percent: int) -> None:
    """traffic.canary PERCENT: that share of clients on the idle colour (0: none), without a lease (it stays
    until changed or a switch). The idle colour must run a good version."""
    store = Store(run)
    with guarded(run, store, version=None, reason=f"canary {percent}%") as entry:
        with run.step("plan canary"):
            state = reconciled_state(run, store, entry)
            stable = state.active
            if stable is None:
                raise OperationFailed("nothing serves yet: there is no stable colour to split traffic from")
            target = state.idle
            version = state.colors[target].runs
            if percent and version is None:
                raise OperationFailed(
                    f"{target} runs no good version: there is nothing to send a canary share to",
                    hint="deploy into it first: inv deploy.prod --version VERSION --canary STEPS",
                )
            entry.canary = [{"percent": percent, "color": target, "version": version, "stable": stable}]
        with run.step(f"canary {percent}%"):
            if percent:
                set_canary(run, target, percent)
                run.out.ok(f"{percent}% of clients (sticky) now on {target} ({version}), the rest on {stable}")
            else:
                clear_canary(run)
                run.out.ok(f"no canary: every client on {stable}")
