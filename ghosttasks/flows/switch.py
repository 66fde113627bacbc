"""traffic.switch: traffic to a colour that is healthy everywhere, the database upgraded first when it must be."""

from __future__ import annotations

from ghosttasks.decisions.migration_plan import plan_switch
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import apply, database_revision, knowledge, record_revision
from ghosttasks.flows.steps.preflight import check_public_tls
from ghosttasks.flows.steps.reality import reconciled_state, settle
from ghosttasks.flows.steps.switching import require_installed, switch_traffic, verify_or_switch_back
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.records.state_store import Store


def switch(run: Run, color: Color) -> DeployState:
    """traffic.switch: send traffic to `color` after checking it is healthy on every app host.

    Planned first: a colour with no good version is refused; when its version's schema head is ahead of
    the database, the database is upgraded (verified backup first) before traffic moves.
    """
    store = Store(run)
    with guarded(run, store, version=None, reason=f"switch traffic to {color}") as entry:
        with run.step("plan switch"):
            check_access(run, run.env.hosts)
            require_installed(run)
            check_public_tls(run)
            state = reconciled_state(run, store, entry)
            current = database_revision(run)
            plan = plan_switch(state, knowledge(run, state), current, color)
            entry.color, entry.version, entry.previous_color = color, plan.version, state.active
            if state.active == color:
                run.note(f"{color} is already active; re-rendering and verifying")
            if plan.before:
                run.note(plan.before.describe())
        previous = state.active
        previous_version = state.colors[previous].runs if previous and previous != color else None
        try:
            with run.step(f"health check {color}"):
                wait_for_color(run, color, plan.version, deadline=30, pinned=state.version_images.get(plan.version))
            if plan.before:
                with run.step("upgrade database"):
                    apply(run, plan.before, label=f"switch-{plan.version}", entry=entry)
            with run.step("switch traffic"):
                switch_traffic(run, color, plan.version)
            with run.step("verify traffic"):
                verify_or_switch_back(run, color, plan.version, previous, previous_version)
            state.after_switch(color)
            hand_over(run, state, "traffic.switch", color, plan.version)  # the workers follow the traffic
        except BaseException:
            state = settle(run, store, entry) or state  # where traffic really is (a switch back may have failed)
            raise
        finally:
            record_revision(run, store, state)
        return state
