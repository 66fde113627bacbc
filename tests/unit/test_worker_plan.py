"""The worker decision (ghosttasks.decisions.workers): exact moves for each flow's steps, then rules that hold over
the whole space of states (either colour or none serving; each colour empty, holding a version, holding a failed
deploy), steps, colours, worker configurations and emergency budgets, checked by running the moves on a model of
what runs where, starting from anything at all running (a killed run's leftovers)."""

from __future__ import annotations

import itertools

import pytest

from ghosttasks.decisions.workers import STEPS, Worker, plan_workers, stop_seconds
from ghosttasks.domain.colors import COLORS, other
from ghosttasks.domain.deploy_state import ColorState, DeployState

CONSUMER = Worker("worker", "consumer", ("app1", "app2"), "SIGTERM", 30)
SCHEDULER = Worker("scheduler", "singleton", ("app1",), "SIGINT", 10)
MAILER = Worker("mailer", "consumer", ("app2",), "SIGQUIT", 120)
CONFIGS = ((), (CONSUMER,), (SCHEDULER,), (CONSUMER, SCHEDULER), (SCHEDULER, CONSUMER, MAILER))
HOLDINGS = {
    "empty": ColorState(),
    "version": ColorState("v1.0.0"),
    "failed": ColorState("v1.0.0", failed_version="v1.1.0"),
}


def state(active, blue="version", green="version") -> DeployState:
    return DeployState(active=active, colors={"blue": HOLDINGS[blue], "green": HOLDINGS[green]})


def lines(plan) -> list[str]:
    return plan.lines()


def test_deploy_before_the_switch_only_clears_the_colour_it_replaces():
    plan = plan_workers((CONSUMER, SCHEDULER), state("blue"), "deploy.before_switch", "green")
    assert lines(plan) == [
        "stop green scheduler on app1 (SIGINT, 10 s, then kill)",
        "stop green worker on app1 (SIGTERM, 30 s, then kill)",
        "stop green worker on app2 (SIGTERM, 30 s, then kill)",
    ]
    assert plan.runs == "blue"


def test_deploy_after_the_switch_stops_the_old_colour_then_starts_the_new():
    plan = plan_workers((CONSUMER, SCHEDULER), state("blue"), "deploy.after_switch", "green")
    assert lines(plan) == [
        "stop blue scheduler on app1 (SIGINT, 10 s, then kill)",
        "stop blue worker on app1 (SIGTERM, 30 s, then kill)",
        "stop blue worker on app2 (SIGTERM, 30 s, then kill)",
        "start green worker on app1",
        "start green worker on app2",
        "start green scheduler on app1",
    ]
    assert plan.runs == "green" and plan.deferred is None


def test_failed_deploy_stops_what_it_started_and_keeps_the_old_colour_running():
    plan = plan_workers((CONSUMER,), state("blue", green="failed"), "deploy.failed", "green")
    assert lines(plan) == [
        "stop green worker on app1 (SIGTERM, 30 s, then kill)",
        "stop green worker on app2 (SIGTERM, 30 s, then kill)",
        "start blue worker on app1",
        "start blue worker on app2",
    ]
    assert plan.runs == "blue"


def test_first_deploy_failing_leaves_no_worker_running():
    plan = plan_workers((CONSUMER,), state(None, blue="failed", green="empty"), "deploy.failed", "blue")
    assert lines(plan) == [
        "stop blue worker on app1 (SIGTERM, 30 s, then kill)",
        "stop blue worker on app2 (SIGTERM, 30 s, then kill)",
    ]
    assert plan.runs is None


@pytest.mark.parametrize("step", ["rollback", "rollback.automatic", "traffic.switch", "rollback.emergency"])
def test_moves_with_the_traffic(step):
    plan = plan_workers((SCHEDULER, MAILER), state("green", green="failed"), step, "blue")
    assert lines(plan) == [
        "stop green scheduler on app1 (SIGINT, 10 s, then kill)",
        "stop green mailer on app2 (SIGQUIT, 120 s, then kill)",
        "start blue mailer on app2",
        "start blue scheduler on app1",
    ]
    assert plan.runs == "blue"


def test_emergency_over_its_budget_moves_nothing_and_says_what_to_run():
    plan = plan_workers((SCHEDULER, MAILER), state("green"), "rollback.emergency", "blue", budget_seconds=25)
    assert plan.moves == () and plan.runs == "green"
    assert lines(plan) == [
        "workers not moved: their stop takes up to 140 s, the emergency budget has 25 s left; green's workers may "
        "still run — run `inv traffic.switch blue` to hand them over"
    ]
    within = plan_workers((SCHEDULER,), state("green"), "rollback.emergency", "blue", budget_seconds=15)
    assert within.deferred is None and len(within.moves) == 2
    assert stop_seconds((SCHEDULER,)) == 15 and stop_seconds(()) == 0


def test_switch_to_an_empty_colour_stops_every_worker():
    plan = plan_workers((CONSUMER,), state("green", blue="empty"), "traffic.switch", "blue")
    assert [move.action for move in plan.moves] == ["stop", "stop"] and plan.runs is None


def test_no_workers_no_moves():
    assert plan_workers((), state("blue"), "deploy.after_switch", "green").moves == ()


def test_unknown_step_is_refused():
    with pytest.raises(ValueError, match="unknown step 'deploy'"):
        plan_workers((CONSUMER,), state("blue"), "deploy", "green")  # type: ignore[arg-type]


def _serving_after(step, color):
    return other(color) if step == "deploy.failed" else color


SPACE = list(
    itertools.product((None, *COLORS), HOLDINGS, HOLDINGS, STEPS, COLORS, range(len(CONFIGS)), (None, 0, 15, 200))
)


def test_rules_over_the_state_space():
    assert len(SPACE) == 7560
    for point in SPACE:
        try:
            check_rules(*point)
        except AssertionError as failure:
            raise AssertionError(f"at {point}: {failure}") from failure


def check_rules(active, blue, green, step, color, config, budget):
    workers = CONFIGS[config]
    world = state(active, blue, green)
    plan = plan_workers(workers, world, step, color, budget_seconds=budget)
    actions = [move.action for move in plan.moves]
    # every stop before every start, and never one colour both stopped and started
    assert actions == sorted(actions, key=lambda action: action == "start")
    assert len({move.color for move in plan.stops}) <= 1 and len({move.color for move in plan.starts}) <= 1
    assert not {move.color for move in plan.stops} & {move.color for move in plan.starts}
    # each move names a configured host of its worker; no (colour, worker, host) twice
    assert all(move.host in move.worker.hosts for move in plan.moves)
    assert len({(m.action, m.color, m.worker.name, m.host) for m in plan.moves}) == len(plan.moves)
    if not workers:
        assert plan.moves == () and plan.runs is None and plan.deferred is None
        return
    # run the moves over the worst leftovers: every worker on all its hosts of each colour that has containers
    # (a colour that holds a version or a failed deploy, and a deploy's new colour)
    holding = {c for c in COLORS if {"blue": blue, "green": green}[c] != "empty"}
    if step.startswith("deploy."):
        holding.add(color)
    running = {(c, w.name, h) for c in holding for w in workers for h in w.hosts}
    for move in plan.moves:
        key = (move.color, move.worker.name, move.host)
        if move.action == "stop":
            running.discard(key)
            continue
        # a start: no other colour's worker of any kind runs anywhere, nor another copy of a singleton
        assert not {c for c, _, _ in running} - {move.color}
        if move.worker.kind == "singleton":
            assert not {r for r in running if r[1] == move.worker.name and r != key}
        running.add(key)
    if plan.deferred:
        assert step == "rollback.emergency" and budget is not None and stop_seconds(workers) > budget
        assert plan.moves == () and f"inv traffic.switch {color}" in plan.deferred
        return
    if step == "deploy.before_switch":
        # only the colour being replaced is cleared; nothing starts before the switch
        assert plan.starts == () and {m.color for m in plan.stops} == {color}
        assert {c for c, _, _ in running} <= {other(color)}
        return
    # afterwards exactly the serving colour's workers run, each on all its hosts, if it holds containers
    serving = _serving_after(step, color)
    holds = serving in holding
    expected = {(serving, w.name, h) for w in workers for h in w.hosts} if holds else set()
    assert running == expected
    assert plan.runs == (serving if holds else None)
