"""The emergency rollback: switch the LB to the previous colour now, freeze deploys, alert, open an incident."""

from __future__ import annotations

from collections.abc import Callable

from ghosttasks.commands import nginx
from ghosttasks.decisions.migration_plan import plan_switch_back
from ghosttasks.decisions.reconcile import Reality
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import Color, other
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import Knowledge
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import access_facts, judge_access
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.reality import reconciled_from, reconciled_state
from ghosttasks.flows.steps.switching import emergency_flip, verify_each
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.observability import notify
from ghosttasks.records.deploy_lock import DeployLock
from ghosttasks.records.state_store import Store


def emergency_rollback(run: Run, *, reason: str) -> DeployState:
    """Switch every LB to the previous colour at once, freeze deploys, alert on-call, open an incident.

    Needs only the LB hosts: the app hosts may be down. No lock is waited for; any lock is replaced
    by a frozen one that only `inv deploy.unlock` lifts. Every LB it can reach is flipped (at once, no
    phase one: an unreachable LB must not keep traffic on the failed colour elsewhere); any it could not is
    named, everything else is still done, and the run fails (exit non-zero) at the end.
    """
    store = Store(run)
    with guarded(run, store, version=None, reason=reason, lock=False) as entry:
        with run.step("switch to the previous colour"):
            state, judge_lb_access = read_the_lb(run, store, entry)  # the LB alone: app hosts may be down
            target = state.previous or (other(state.active) if state.active else None)
            version = state.colors[target].runs if target else None
            if target is None or version is None:
                raise OperationFailed(
                    "no previous colour with a known version to switch to",
                    hint="switch by hand: inv traffic.switch <colour>, or deploy a known good version",
                )
            failed = state.active
            judge_lb_access()  # sudo -n on the state LB (lb.sudo): read with the state, judged here as always
            entry.color, entry.version, entry.previous_color, entry.reason = target, version, failed, reason
            warning = plan_switch_back(state, Knowledge.recorded(state), state.database_revision, target).warning
            if warning:
                run.out.fail(warning)
                entry.warning = warning
            exit_code, lines, flipped = emergency_flip(run, target)
            run.executor.ahead(probes.warm_up)  # httpx for the alerts and the verification (after the flip: no CPU
            # work in another thread may slow paramiko's before it)
            for line in lines:
                (run.out.fail if "NOT flipped" in line or line.startswith("flip ") else run.out.ok)(line)
        with run.step("freeze deploys"):
            DeployLock(run).freeze(reason=f"emergency rollback: {reason}")
        state.after_switch(target)
        saving = run.executor.start(lambda: store.save(state))  # written while on-call is alerted
        with run.step("alert on-call and open an incident"):
            payload = {"reason": reason, "from": failed, "to": target, "version": version}
            # both at once: the incident is not kept waiting for the on-call webhook's answer
            alerting = run.executor.start(lambda: notify.deliver(run, "rollback.emergency", payload))
            incident = notify.deliver(run, "incident.open", {**payload, "severity": "critical"}, incident=True)
            alert = alerting.result()
            say_who_was_told(run, alert, incident)
            entry.alerted, entry.incident = alert.ok, incident.ok
        saving.result()  # the state is true before anything else runs
        move_workers(run, state, target, version, elapsed=run.elapsed())
        with run.step("verify traffic"):
            # the LBs it flipped: one it could not is named already and serves the failed colour
            for name, error in verify_each(run, target, version, samples=5, deadline=5, hosts=flipped).items():
                if error:
                    run.out.warn(f"{name}: {error} (the switch is done; check the {target} hosts)")
        if exit_code:
            raise OperationFailed(
                "the emergency rollback could not flip every LB:\n" + "\n".join(lines),
                hint=f"deploys to {run.env.name} are frozen; once every LB is reachable: inv traffic.switch {target}",
            )
        run.out.ok(f"traffic is on {target} ({version}); deploys to {run.env.name} are frozen")
        by_hand = [what for what, done in (("alert on-call", alert.ok), ("open the incident", incident.ok)) if not done]
        if by_hand:
            run.out.warn(f"do it by hand: {' and '.join(by_hand)}")
        run.out.info(f"when the incident is over: inv deploy.unlock --env {run.env.name} --force")
        return state


def read_the_lb(run: Run, store: Store, entry: HistoryEntry) -> tuple[DeployState, Callable[[], None]]:
    """The state LB's state.json, flag and access check (lb.sudo) read with one command: the state reconciled
    against the flag (repaired when it must be), and the access verdict for the flow to take when it would have
    checked. Without an LB: the recorded state, nothing to check."""
    env = run.env
    if env.lb is None:
        return reconciled_state(run, store, entry, containers=False), lambda: None
    lb = env.lb_host
    checks = list(access_facts(run, [lb], docker=False).values())
    *access, recorded, flag = run.executor.read_together(lb, [*checks, store.fact(), nginx.lb_flag(env.flag_path)])
    state = reconciled_from(run, store, entry, recorded.value(), Reality(flag.value()))

    def judge() -> None:
        if access:
            judge_access(run, [lb], [answer.value() for answer in access], docker=False)

    return state, judge


#: The runbook's emergency rollback: "immediate traffic switch (< 30 seconds)".
BUDGET_SECONDS = 30


def move_workers(run: Run, state: DeployState, target: Color, version: str, *, elapsed: float) -> None:
    """The failed colour's workers stopped and the target's started, when their stops fit in what is left of
    the budget after `elapsed` seconds of the run (else it says so and what to run); app hosts that cannot be
    reached are said, not raised."""
    left = budget_left(elapsed)
    try:
        hand_over(run, state, "rollback.emergency", target, version, budget_seconds=left)
    except OperationFailed as exc:
        run.out.warn(f"workers not moved: {exc}; when the app hosts answer: inv traffic.switch {target}")


def budget_left(elapsed: float) -> int:
    """Whole seconds of the emergency budget left after `elapsed` (never below 0)."""
    return max(0, int(BUDGET_SECONDS - elapsed))


def say_who_was_told(run: Run, alert: notify.Delivery, incident: notify.Delivery) -> None:
    """Name the receivers and their answers, or say plainly that nobody was told.

    Warnings, never a failure: the switch is what matters.
    """
    if alert.url is None:
        run.out.warn("no one was alerted: notify.webhook_url is not set")
    elif alert.ok:
        run.out.ok(f"on-call alerted: {alert.receiver} answered {alert.answer}")
    else:
        run.out.warn(f"on-call was NOT alerted: {alert.receiver}: {alert.answer}")
    if incident.url is None:
        run.out.warn("no incident was opened: notify.incident_url is not set")
    elif incident.ok:
        run.out.ok(f"incident opened: {incident.receiver} answered {incident.answer}")
    else:
        run.out.warn(f"no incident was opened: {incident.receiver}: {incident.answer}")
