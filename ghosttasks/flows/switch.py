"""traffic.switch: traffic to a colour that is healthy everywhere, the database upgraded first when it must be."""

from __future__ import annotations

import threading

from ghosttasks.decisions.migration_plan import plan_switch
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.revisions import one_head
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Pending
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import switch_reads
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import apply, knowledge, record_revision
from ghosttasks.flows.steps.preflight import check_public_tls
from ghosttasks.flows.steps.reality import reconciled_from, settle
from ghosttasks.flows.steps.switching import rendered, switch_traffic, verify_or_switch_back
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.records.state_store import Store


def switch(run: Run, color: Color) -> DeployState:
    """traffic.switch: send traffic to `color` after checking it is healthy on every app host.

    Planned first: a colour with no good version is refused; when its version's schema head is ahead of
    the database, the database is upgraded (verified backup first) before traffic moves.
    """
    run.executor.connect_ahead(switch_reads.touched(run))  # while the lock is taken on the state LB
    run.executor.ahead(lambda: rendered(run))  # the LB files (Jinja): the first reads' dry-run answer needs them
    store = Store(run)
    with guarded(run, store, version=None, reason=f"switch traffic to {color}") as entry:
        cancel = threading.Event()
        health: Pending[None] | None = None
        try:
            with run.step("plan switch"):
                reads = switch_reads.start(run, store, color)  # one command per host, all at once
                # httpx for the health check while the hosts answer (not before: CPU work in other threads slows
                # paramiko's own thread, and so the lock)
                run.executor.ahead(probes.warm_up)
                reads.lb_and_apps()
                guessed = reads.expected_version(color)
                if guessed:  # the health check overlaps the database's read and the verdicts; judged after them
                    health = start_health(run, color, guessed, reads.recorded(), cancel)
                reads.judge_access()
                reads.judge_installed()
                check_public_tls(run)
                state = reconciled_from(run, store, entry, reads.recorded(), reads.reality())
                current = one_head(reads.heads())
                plan = plan_switch(state, knowledge(run, state), current, color)
                entry.color, entry.version, entry.previous_color = color, plan.version, state.active
                if state.active == color:
                    run.note(f"{color} is already active; re-rendering and verifying")
                if plan.before:
                    run.note(plan.before.describe())
            if guessed != plan.version:
                cancel.set()
                health = start_health(run, color, plan.version, state, threading.Event())
            assert health is not None
            with run.step(f"health check {color}"):
                health.result()
        except BaseException:
            cancel.set()  # probes still waiting stop at once
            raise
        previous = state.active
        previous_version = state.colors[previous].runs if previous and previous != color else None
        try:
            if plan.before:
                with run.step("upgrade database"):
                    apply(run, plan.before, label=f"switch-{plan.version}", entry=entry)
            with run.step("switch traffic"):
                switch_traffic(run, color, plan.version, reads.views() if not plan.before else None)
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


def start_health(run: Run, color: Color, version: str, state: DeployState, cancel: threading.Event) -> Pending[None]:
    """The health check of `color` at `version` started in a thread of its own (a dry run: here and now)."""
    pinned = state.version_images.get(version)
    return run.executor.start(
        lambda: wait_for_color(run, color, version, deadline=HEALTH_DEADLINE, pinned=pinned, cancel=cancel)
    )


#: Seconds the target colour has to answer healthy on every app host.
HEALTH_DEADLINE = 30
