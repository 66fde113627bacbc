"""Manual (migration-aware) rollback and the emergency rollback.

Manual rollback follows the runbook's order: the application first (switch back to the other
colour when it still runs the target version, else redeploy that version into it), then the
database if its revision is ahead of what the target version shipped (verified backup first,
then `alembic downgrade` from the newer colour's container, which still has the newer scripts).
Backward-compatible migrations (the runbook's strategy) keep the old code working on the newer
schema during the few seconds between the two.
"""

from __future__ import annotations

from ghosttasks import notify
from ghosttasks.commands import alembic
from ghosttasks.errors import OperationFailed
from ghosttasks.flows import common
from ghosttasks.flows.guard import guarded
from ghosttasks.run import Run
from ghosttasks.state import ColorState, DeployState, Store
from ghosttasks.validate import COLORS


def other(color: str) -> str:
    return "green" if color == "blue" else "blue"


def rollback(run: Run, *, to: str | None, db_rev: str | None) -> DeployState:
    env = run.env
    store = Store(run)
    with guarded(run, store, version=to, reason="rollback") as entry:
        with run.step("plan rollback"):
            state = store.load()
            if not state.active or not state.colors[state.active].version:
                raise OperationFailed(f"nothing is deployed in {env.name}: nothing to roll back")
            active = state.active
            active_version = state.colors[active].version
            target = other(active)
            version = to or state.colors[target].runs
            if not version:
                raise OperationFailed(
                    f"{target} holds no known-good version and no --to was given: no previous version known",
                    hint="name the version: inv deploy.rollback --to vX.Y.Z",
                )
            if version == active_version:
                raise OperationFailed(f"{version} is already serving on {active}")
            entry.update(version=version, color=target, previous_color=active, previous_version=active_version)
            reuse = state.colors[target].runs == version
            newer_api = common.ApiTarget(
                env.app_hosts[0], common.color_project(run, env.app_hosts[0], active, active_version), active
            )  # type: ignore[arg-type]
            current = common.current_revision(run, newer_api)
            wanted = db_rev or state.version_heads.get(version)
            downgrade = wanted is not None and wanted != current
            run.note(
                f"rollback {active} {active_version} -> {target} {version} "
                + ("(already running there: switch only)" if reuse else "(redeploy into it)")
            )
            if downgrade:
                run.note(f"database at {current}, {version} shipped {wanted}: backup, then alembic downgrade {wanted}")
            elif wanted is None:
                run.out.warn(f"alembic head of {version} unknown: database stays at {current} (use --db-rev to choose)")
            else:
                run.note(f"database already at {current}: no downgrade needed")

        if not reuse:
            with run.step(f"redeploy {version} into {target}"):
                common.fetch_release(run, version)
                common.build_images(run, version, target)
                common.start_color(run, target, version)
        with run.step(f"health check {target}"):
            common.wait_for_color(run, target, version, deadline=120 if not reuse else 30)
        with run.step("switch traffic"):
            common.switch_traffic(run, target, version)
        with run.step("verify traffic"):
            common.verify_lb(run, target, version)
        state.previous, state.active = active, target
        state.colors[target] = ColorState(version, state.version_heads.get(version), run.now())
        store.save(state)

        if downgrade:
            with run.step("backup database"):
                entry["backup"] = common.take_backup(run, f"rollback-{version}").path
            with run.step("downgrade database"):
                common.alembic_in(run, newer_api, alembic.downgrade(env.app.alembic, wanted), what="alembic downgrade")  # type: ignore[arg-type]
                entry["alembic_revision"] = common.current_revision(run, newer_api)
        run.out.ok(f"rolled back to {version} on {target}; {active} keeps {active_version} idle")
        return state


def emergency(run: Run, *, reason: str) -> DeployState:
    """Switch the LB to the previous colour at once, freeze deploys, alert on-call, open an incident.

    Needs only the LB host: the app hosts may be down. No lock is waited for; any lock is replaced
    by a frozen one that only `inv deploy.unlock` lifts.
    """
    store = Store(run)
    with guarded(run, store, version=None, reason=reason, lock=False) as entry:
        with run.step("switch to the previous colour"):
            state = store.load()
            target = state.previous or (other(state.active) if state.active else None)
            if target not in COLORS or not state.colors[target].runs:
                raise OperationFailed(
                    "no previous colour with a known version to switch to",
                    hint="switch by hand: inv traffic.switch <colour>, or deploy a known good version",
                )
            version = state.colors[target].runs
            failed = state.active
            entry.update(color=target, version=version, previous_color=failed, reason=reason)
            common.switch_traffic(run, target, version)  # type: ignore[arg-type]
        with run.step("freeze deploys"):
            store.freeze(reason=f"emergency rollback: {reason}")
        state.previous, state.active = failed, target
        store.save(state)
        with run.step("alert on-call and open an incident"):
            payload = {"reason": reason, "from": failed, "to": target, "version": version}
            alerted = notify.send(run, "rollback.emergency", payload)
            opened = notify.send(run, "incident.open", {**payload, "severity": "critical"}, incident=True)
            entry.update(alerted=alerted, incident=opened)
        with run.step("verify traffic"):
            try:
                common.verify_lb(run, target, version, samples=5, deadline=5)
            except OperationFailed as exc:
                run.out.warn(f"{exc} (the switch is done; check the {target} hosts)")
        run.out.ok(f"traffic is on {target} ({version}); deploys to {run.env.name} are frozen")
        run.out.info(f"when the incident is over: inv deploy.unlock --env {run.env.name} --force")
        return state
