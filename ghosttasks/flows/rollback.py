"""Manual (migration-aware) rollback, planned by ghosttasks.decisions.migration_plan before anything changes.

The runbook's order: the application first (switch back to the other colour when it still runs the
target version, else redeploy that version into it), then the database if it is ahead of what the
target version shipped (verified backup, `alembic downgrade` from a container whose code knows both
revisions). Backward-compatible migrations keep the old code working on the newer schema in between.
When the database is behind the target version, it is upgraded before traffic moves.
"""

from __future__ import annotations

from ghosttasks.decisions.migration_plan import plan_rollback, serving
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import Color, other
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.revisions import Knowledge
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.steps.build_once import ensure_pinned
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import apply, database_revision, knowledge, read_graph, record_revision
from ghosttasks.flows.steps.migration_review import lint_downgrade
from ghosttasks.flows.steps.projects import color_api
from ghosttasks.flows.steps.reality import begin, reconciled_state, settle
from ghosttasks.flows.steps.release import fetch_release, start_color
from ghosttasks.flows.steps.switching import switch_traffic, verify_or_switch_back
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.records.state_store import Store


def rollback(run: Run, *, to: str | None, db_rev: str | None, force: bool = False) -> DeployState:
    """deploy.rollback: back to the older (or the named) version, then its schema."""
    store = Store(run)
    with guarded(run, store, version=to, reason="rollback") as entry:
        with run.step("plan rollback"):
            check_access(run, run.env.hosts)
            state = reconciled_state(run, store, entry)
            current = database_revision(run)
            known = knowledge(run, state)
            active = serving(state)
            if active and to and to not in known.graphs and to != active[1]:
                known = _redeploy_unknown(run, store, state, entry, other(active[0]), to)
            plan = plan_rollback(state, known, current, to=to, db_rev=db_rev, force=force)
            entry.version, entry.color = plan.version, plan.target
            entry.previous_color, entry.previous_version = plan.source, plan.source_version
            for note in plan.notes:
                run.note(note)
            for migration in (plan.before_switch, plan.after_switch):
                if migration:
                    run.note(migration.describe())
        try:
            if plan.redeploy:
                with run.step(f"redeploy {plan.version} into {plan.target}"):
                    _start_version(run, store, state, entry, plan.target, plan.version)
            if plan.switch:
                with run.step(f"health check {plan.target}"):
                    wait_for_color(
                        run,
                        plan.target,
                        plan.version,
                        deadline=120 if plan.redeploy else 30,
                        pinned=state.version_images.get(plan.version),
                    )
            if plan.before_switch:
                with run.step("upgrade database"):
                    apply(run, plan.before_switch, label=f"rollback-{plan.version}", entry=entry)
            if plan.switch:
                with run.step("switch traffic"):
                    switch_traffic(run, plan.target, plan.version)
                with run.step("verify traffic"):
                    verify_or_switch_back(run, plan.target, plan.version, plan.source, plan.source_version)
                state.after_deploy(plan.target, plan.version, known.head(plan.version), run.now())
                store.save(state)
                hand_over(run, state, "rollback", plan.target, plan.version)  # the workers follow the traffic
            if plan.after_switch:
                with run.step("downgrade database"):
                    lint_downgrade(run, plan.after_switch)
                    apply(run, plan.after_switch, label=f"rollback-{plan.version}", entry=entry)
        except BaseException:
            state = settle(run, store, entry) or state  # where traffic really is, what the colours really run
            raise
        finally:
            record_revision(run, store, state)
        run.out.ok(f"rolled back to {plan.version} on {plan.target}" + _idle_note(state, plan.target))
        return state


def _redeploy_unknown(
    run: Run, store: Store, state: DeployState, entry: HistoryEntry, color: Color, version: str
) -> Knowledge:
    """A --to version not recorded yet: start it in the idle colour (no traffic) and read what it ships."""
    with run.step(f"redeploy {version} into {color}"):
        _start_version(run, store, state, entry, color, version)
        state.colors[color].version, state.colors[color].failed_version = version, None
        state.colors[color].images = dict(state.version_images.get(version, {}))
        state.learn_graph(version, read_graph(run, color_api(run, color, version)).graph)
        state.intent = None  # started and recorded: the switch (if any) is journalled by the LB's flag itself
        store.save(state)
    return knowledge(run, state)


def _start_version(run: Run, store: Store, state: DeployState, entry: HistoryEntry, color: Color, version: str) -> None:
    """Start `version` in the idle `color`, journalled first; a failure leaves the colour marked failed."""
    try:
        fetch_release(run, version)
        state.record_images(version, ensure_pinned(run, state, version, color))
        begin(run, store, state, color, version)
        start_color(run, color, version)
    except BaseException:
        settle(run, store, entry)
        raise


def _idle_note(state: DeployState, target: Color) -> str:
    idle = other(target)
    version = state.colors[idle].runs
    return f"; {idle} keeps {version} idle" if version else ""
