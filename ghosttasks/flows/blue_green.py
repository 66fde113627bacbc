"""Blue-green production deploy (DESIGN.md, "the main flow"), step by step as the runbook has it."""

from __future__ import annotations

from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows import canary as canary_flow
from ghosttasks.flows.steps import build_once, logs, metrics, monitor
from ghosttasks.flows.steps.backup import take_backup
from ghosttasks.flows.steps.database_access import check_password
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import migrate_for_deploy, record_revision
from ghosttasks.flows.steps.migration_review import review_for_deploy
from ghosttasks.flows.steps.preflight import deploy_checklist
from ghosttasks.flows.steps.reality import begin, reconciled_state, settle
from ghosttasks.flows.steps.release import fetch_release, start_color
from ghosttasks.flows.steps.smoke import smoke
from ghosttasks.flows.steps.switching import switch_traffic, verify_or_switch_back
from ghosttasks.flows.steps.workers import hand_over, queue_change, say_queue_depth
from ghosttasks.records.deploy_lock import DeployLock
from ghosttasks.records.state_store import Store


def deploy(
    run: Run,
    version: str,
    *,
    monitor_minutes: float | None,
    health_deadline: float | None = None,
    allow_breaking_migration: bool = False,
    yes: bool = False,
    canary: list[int] | None = None,
) -> DeployState:
    """Deploy `version` into the idle colour, check it, switch traffic to it, watch it, record it.

    monitor_minutes and health_deadline None: the environment's thresholds. The pending migration is linted before
    the backup: breaking findings refuse unless allow_breaking_migration, locking ones need `yes` or a terminal.
    With monitoring, the serving colour's trigger queries are read in the preflight: no series refuses the deploy
    before anything starts (metrics.without_series: continue goes on, saying which triggers cannot be judged).
    canary: the canary's steps before the switch (ghosttasks.flows.canary); None: canary.steps; []: none.
    """
    minutes = run.env.thresholds.monitor_minutes if monitor_minutes is None else monitor_minutes
    health = run.env.thresholds.health_timeout_seconds if health_deadline is None else health_deadline
    steps = run.env.canary.steps if canary is None else canary
    store = Store(run)
    with guarded(run, store, version=version, reason=f"deploy {version}") as entry:
        with run.step("preflight"):
            build_once.preflight(run)
            check_password(run)
            deploy_checklist(run, version, monitor_minutes=minutes)
            state = reconciled_state(run, store, entry)  # the idle colour is the one the LB does not serve
            target, previous = state.idle, state.active
            previous_version = state.colors[previous].runs if previous else None
            entry.color, entry.previous_color, entry.previous_version = target, previous, previous_version
            run.note(f"{version} goes into {target}; {previous or 'nothing'} keeps serving until the switch")
            if minutes > 0:  # the triggers must be able to judge what serves, before anything is started
                metrics.check_serving(run, state)
        with run.step("fetch and build"):
            fetch_release(run, version)
            projects = build_once.colour_projects(run, target, version)
            recorded = state.version_images.get(version, {})
            state.record_images(version, build_once.ship(run, version, projects, recorded))
        with run.step("review migration"):
            review_for_deploy(run, state, target, version, entry, allow_breaking=allow_breaking_migration, yes=yes)
        with run.step("backup database"):
            entry.backup = take_backup(run, version).path
        begin(run, store, state, target, version)  # the journal: a run killed from here on is resolved by the next
        handed_over = False
        depth_before = say_queue_depth(run, "before the deploy")
        try:
            hand_over(run, state, "deploy.before_switch", target, version)  # leftovers of the colour it replaces
            with run.step(f"start {target}"):
                start_color(run, target, version)
            with run.step("migrate database"):
                entry.alembic_head = head = migrate_for_deploy(run, state, target, version, entry)
            with run.step(f"health check {target}"):
                wait_for_color(run, target, version, deadline=health, pinned=state.version_images.get(version))
            with run.step(f"smoke test {target}"):
                smoke(run, target, version, requests=10)
            if steps:
                canary_flow.walk(run, state, target, version, steps, entry)
            with run.step("switch traffic"):
                switch_while_locked(run, target, version)
            with run.step("verify traffic"):
                verify_or_switch_back(run, target, version, previous, previous_version)
            handed_over = True  # the old colour's workers stop, the new colour's start: they follow the traffic
            hand_over(run, state, "deploy.after_switch", target, version)
            queue = queue_change(depth_before, say_queue_depth(run, "after the handover"))
            if queue:
                entry.queue = queue
        except BaseException:
            if handed_over:  # the handover failed half-way: the old workers back
                hand_back(run, state, target, previous_version)
            # the record made true: traffic back on the old colour, the new one failed, the schema as it now is
            settled = settle(run, store, entry)
            if settled is not None and entry.alembic_revision is not None:  # this run changed the schema
                record_revision(run, store, settled)
            raise
        state.after_deploy(target, version, head, run.now())
        record_revision(run, store, state)
        if minutes > 0:
            with run.step("monitor"):
                watch_and_roll_back(run, store, state, entry, minutes)
        with run.step("log analysis"):
            logs.after_deploy(run, state)
        with run.step("prune old versions"):
            build_once.prune_after_deploy(run, state)
        run.out.ok(f"{version} is live on {target} in {run.env.name}")
        return state


def switch_while_locked(run: Run, target: Color, version: str) -> None:
    """Switch only while this run still holds the lock (an emergency rollback may have frozen deploys)."""
    if not DeployLock(run).still_held():
        raise OperationFailed(
            "the deploy lock is no longer ours (an emergency rollback froze deploys?): not switching",
            hint="see inv deploy.status; the new colour is running but serves no traffic",
        )
    switch_traffic(run, target, version)


def hand_back(run: Run, state: DeployState, target: Color, previous_version: str | None) -> None:
    """After a failed handover: the new colour's workers stopped, the old colour's (re)started; a failure here
    is said with what to run, the deploy's own failure is what is raised."""
    try:
        hand_over(run, state, "deploy.failed", target, previous_version)
    except Exception as exc:
        run.out.warn(f"workers not handed back: {exc}; see inv deploy.status, then inv traffic.switch <colour>")


def watch_and_roll_back(run: Run, store: Store, state: DeployState, entry: HistoryEntry, minutes: float) -> None:
    """Monitor the new colour; a trigger rolls back automatically and fails the deploy naming it."""
    target, previous = state.active, state.previous
    trigger = monitor.watch(run, store, state, minutes=minutes, rollback=True)
    if trigger:
        entry.result = "rolled_back"
        entry.trigger = trigger.describe()
        previous_version = state.colors[previous].runs if previous else None
        version = state.colors[target].version if target else None
        raise OperationFailed(
            f"automatic rollback: {trigger.describe()}; traffic is back on {previous} ({previous_version})",
            hint=f"{target} still runs {version} for inspection: "
            f"inv stack.logs {run.env.app.roles.public} --color {target}",
        )
