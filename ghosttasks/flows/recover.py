"""deploy.recover: under the deploy lock, state.json checked against the LB, the containers and the database,
and repaired where it is wrong (an unfinished change of a run that died is completed or rolled back)."""

from __future__ import annotations

from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import Refused
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.migrate import database_revision
from ghosttasks.flows.steps.reality import reconciled_state
from ghosttasks.records.state_store import Store


def recover(run: Run) -> DeployState:
    """Repair the record from reality and say what changed (nothing when it was right: the file is not rewritten)."""
    store = Store(run)
    with guarded(run, store, version=None, reason="recover the deploy state") as entry:
        with run.step("check the state against reality"):
            state = reconciled_state(run, store, entry)
            checked = "the LB, the containers and the database"
            try:
                real = database_revision(run)
            except Refused:  # read, and at several heads: no revision to record; its hint says what to do
                raise
            except OperationFailed as exc:
                run.not_judged("database revision", f"not read, state.json keeps {state.database_revision} ({exc})")
                real, checked = state.database_revision, "the LB and the containers"
            if real != state.database_revision:
                line = f"database revision: state.json said {state.database_revision}, the database is at {real}"
                state.database_revision = real
                store.save(state)
                run.out.warn(f"state repaired: {line}")
                entry.state_repaired = [*(entry.state_repaired or []), line]
        if entry.state_repaired:
            run.out.ok(f"state.json repaired: it agrees with {checked}")
        else:
            run.out.ok(f"state.json agrees with {checked}: nothing to repair")
        return state
