"""deploy.recover: under the deploy lock, state.json checked against the LB, the containers and the database,
and repaired where it is wrong (an unfinished change of a run that died is completed or rolled back)."""

from __future__ import annotations

from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.migrate import record_revision
from ghosttasks.flows.steps.reality import reconciled_state
from ghosttasks.records.state_store import Store


def recover(run: Run) -> DeployState:
    """Repair the record from reality and say what changed (nothing when it was right)."""
    store = Store(run)
    with guarded(run, store, version=None, reason="recover the deploy state") as entry:
        with run.step("check the state against reality"):
            recorded_revision = store.load().database_revision
            state = reconciled_state(run, store, entry)
            record_revision(run, store, state)
            if state.database_revision != recorded_revision:
                real = state.database_revision
                line = f"database revision: state.json said {recorded_revision}, the database is at {real}"
                run.out.warn(f"state repaired: {line}")
                entry.state_repaired = [*(entry.state_repaired or []), line]
        if entry.state_repaired:
            run.out.ok("state.json repaired: it agrees with the LB, the containers and the database")
        else:
            run.out.ok("state.json agrees with the LB, the containers and the database: nothing to repair")
        return state
