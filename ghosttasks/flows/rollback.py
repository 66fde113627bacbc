"""Manual (migration-aware) rollback.

Manual rollback follows the runbook's order: the application first (switch back to the other
colour when it still runs the target version, else redeploy that version into it), then the
database if its revision is ahead of what the target version shipped (verified backup first,
then `alembic downgrade` from the newer colour's container, which still has the newer scripts).
Backward-compatible migrations (the runbook's strategy) keep the old code working on the newer
schema during the few seconds between the two.
"""

from __future__ import annotations

from ghosttasks.commands import alembic
from ghosttasks.flows.backup import take_backup
from ghosttasks.flows.guard import guarded
from ghosttasks.flows.health import wait_for_color
from ghosttasks.flows.migrate import alembic_in, current_revision
from ghosttasks.flows.projects import color_api
from ghosttasks.flows.release import build_images, fetch_release, start_color
from ghosttasks.flows.traffic import switch_traffic, verify_lb
from ghosttasks.rollback_plan import plan_rollback
from ghosttasks.run import Run
from ghosttasks.state import DeployState, Store


def rollback(run: Run, *, to: str | None, db_rev: str | None) -> DeployState:
    """deploy.rollback: back to the other colour's (or the named) version, then the schema if needed."""
    env = run.env
    store = Store(run)
    with guarded(run, store, version=to, reason="rollback") as entry:
        with run.step("plan rollback"):
            state = store.load()
            plan = plan_rollback(state, to=to, db_rev=db_rev, env_name=env.name)
            entry.update(
                version=plan.version,
                color=plan.target,
                previous_color=plan.source,
                previous_version=plan.source_version,
            )
            newer_api = color_api(run, plan.source, plan.source_version)
            current = current_revision(run, newer_api)
            downgrade = plan.needs_downgrade(current)
            run.note(
                f"rollback {plan.source} {plan.source_version} -> {plan.target} {plan.version} "
                + ("(already running there: switch only)" if plan.reuse else "(redeploy into it)")
            )
            if downgrade:
                run.note(
                    f"database at {current}, {plan.version} shipped {plan.wanted_revision}: "
                    f"backup, then alembic downgrade {plan.wanted_revision}"
                )
            elif plan.wanted_revision is None:
                run.out.warn(
                    f"alembic head of {plan.version} unknown: database stays at {current} (use --db-rev to choose)"
                )
            else:
                run.note(f"database already at {current}: no downgrade needed")

        if not plan.reuse:
            with run.step(f"redeploy {plan.version} into {plan.target}"):
                fetch_release(run, plan.version)
                build_images(run, plan.version, plan.target)
                start_color(run, plan.target, plan.version)
        with run.step(f"health check {plan.target}"):
            wait_for_color(run, plan.target, plan.version, deadline=30 if plan.reuse else 120)
        with run.step("switch traffic"):
            switch_traffic(run, plan.target, plan.version)
        with run.step("verify traffic"):
            verify_lb(run, plan.target, plan.version)
        state.after_deploy(plan.target, plan.version, state.version_heads.get(plan.version), run.now())
        store.save(state)

        if downgrade and plan.wanted_revision:
            with run.step("backup database"):
                entry["backup"] = take_backup(run, f"rollback-{plan.version}").path
            with run.step("downgrade database"):
                argv = alembic.downgrade(env.app.alembic, plan.wanted_revision)
                alembic_in(run, newer_api, argv, what="alembic downgrade")
                entry["alembic_revision"] = current_revision(run, newer_api)
        run.out.ok(f"rolled back to {plan.version} on {plan.target}; {plan.source} keeps {plan.source_version} idle")
        return state
