"""A process killed between any two commands leaves nothing the next command gets wrong.

Every changing flow is killed at each of its remote operations in turn (tests/unit/crash_world.py); then the
user runs what they would: `deploy.unlock --force`, `deploy.status`, and a deploy of a version that is not
serving. Everything is checked against the world, never against what the tool says about it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest

from ghosttasks.commands import assumptions
from ghosttasks.execution.run import Run
from ghosttasks.flows import holds
from ghosttasks.flows.blue_green import deploy
from ghosttasks.flows.database import migrate
from ghosttasks.flows.emergency import emergency_rollback
from ghosttasks.flows.prune import prune_by_hand
from ghosttasks.flows.rollback import rollback
from ghosttasks.flows.status import status
from ghosttasks.flows.steps import logs
from ghosttasks.flows.switch import switch
from ghosttasks.testing import prod
from tests.unit.crash_world import DISRUPTIVE, Killed, World, WorldExecutor, starting_world, world_run

ENV = prod()
KILLED_DEPLOY, NEXT_DEPLOY = "v1.2.0", "v1.3.0"  # both newer than v1.1.0: the assumptions give them a new head
UNRECORDED = "v0.9.0"  # a rollback target state.json does not know: redeployed into the idle colour first


def database_behind(world: World) -> None:
    """Green serves v1.1.0 on a database someone downgraded to v1.0.0's head (db.downgrade --force)."""
    state = json.loads(world.state)
    world.revision = state["database_revision"] = assumptions.OLDER_HEAD
    world.state = json.dumps(state, sort_keys=True) + "\n"


def rolled_back(world: World) -> None:
    """Blue serves v1.0.0 on its own schema after a rollback; green holds v1.1.0, whose head is ahead of it."""
    database_behind(world)
    state = json.loads(world.state)
    state["active"], state["previous"] = "blue", "green"
    world.green, world.state = False, json.dumps(state, sort_keys=True) + "\n"


# task -> (the flow, what the starting world changes for it)
FLOWS: dict[str, tuple[Callable[[Run], object], Callable[[World], None] | None]] = {
    "deploy.prod": (lambda run: deploy(run, KILLED_DEPLOY, monitor_minutes=0, yes=True), None),
    "deploy.rollback": (lambda run: rollback(run, to=None, db_rev=None), None),
    "deploy.rollback --to": (lambda run: rollback(run, to=UNRECORDED, db_rev=None), None),
    "traffic.switch": (lambda run: switch(run, "blue"), None),
    "traffic.switch (upgrade first)": (lambda run: switch(run, "green"), rolled_back),
    "deploy.emergency-rollback": (lambda run: emergency_rollback(run, reason="crash walk"), None),
    "db.upgrade": (lambda run: migrate(run, "upgrade", assumptions.NEWER_HEAD), database_behind),
    "db.downgrade": (lambda run: migrate(run, "downgrade", assumptions.OLDER_HEAD, force=True), None),
    "deploy.prune": (lambda run: prune_by_hand(run, keep=None, list_only=False), None),
}


@pytest.fixture(autouse=True)
def _real_run(monkeypatch):
    """What a real run needs here: the registry password, and no waiting for request ids the logs never show."""
    monkeypatch.setenv("GHOSTWORKS_REGISTRY_PASSWORD", "not-a-real-password")
    monkeypatch.setattr(logs, "ID_DEADLINE_SECONDS", 0)


def world_for(task: str) -> World:
    world = starting_world(ENV)
    prepare = FLOWS[task][1]
    if prepare:
        prepare(world)
    return world


def kill(task: str, world: World, n: int) -> Run:
    """The flow's run, killed at operation n."""
    run = world_run(ENV, world, task, kill_at=n)
    with contextlib.suppress(Killed):
        FLOWS[task][0](run)
        raise AssertionError(f"{task} went on past its kill at operation {n}")
    return run


def unkilled(task: str, world: World) -> WorldExecutor:
    """The flow run to its end: its operations."""
    run = world_run(ENV, world, task)
    FLOWS[task][0](run)
    return executor(run)


def executor(run: Run) -> WorldExecutor:
    assert isinstance(run.executor, WorldExecutor)
    return run.executor


def status_problems(world: World) -> list[str]:
    """deploy.status shows disagreements exactly when state.json differs from the world, and changes nothing."""
    before = world.copy()
    shown = status(world_run(ENV, world, "deploy.status"))["disagreements"]
    expected = world.record_disagrees()
    problems = [] if bool(shown) == bool(expected) else [f"status shows {shown or 'no disagreement'}, {expected=}"]
    return problems + (["status changed the world"] if world != before else [])


def next_deploy(world: World) -> tuple[Run, list[str]]:
    """deploy.prod of a version that is not serving, and what it got wrong about the world."""
    serving = world.serving
    run = world_run(ENV, world, "deploy.prod")
    problems = []
    try:
        deploy(run, NEXT_DEPLOY, monitor_minutes=0, yes=True)
    except Exception as exc:
        problems.append(f"the next deploy failed: {type(exc).__name__}: {exc}")
    project = f"{ENV.app.project}-{serving}"
    touched = sorted(
        {f"{sub} on {host}" for host, name, sub in executor(run).compose if name == project and sub in DISRUPTIVE}
    )
    if touched:
        problems.append(f"the next deploy ran compose {', '.join(touched)} for {serving}, which was serving")
    problems += [f"after the next deploy state.json disagrees: {line}" for line in world.record_disagrees()]
    if set(world.containers[world.serving].values()) != {NEXT_DEPLOY}:
        problems.append(f"{world.serving} serves {world.containers[world.serving]}, not {NEXT_DEPLOY} just deployed")
    state = json.loads(world.state)
    if world.lock is not None:
        problems.append(f"the lock is held: {world.lock}")
    if state["database_revision"] != world.revision:
        problems.append(
            f"state.json's database revision is {state['database_revision']}, the database is at {world.revision}"
        )
    if not any(entry["run_id"] == run.run_id and entry["result"] == "ok" for entry in map(json.loads, world.history)):
        problems.append("the next deploy's history line (result ok) is missing")
    return run, problems


@pytest.mark.parametrize("task", FLOWS)
def test_a_run_killed_at_any_operation_leaves_nothing_the_next_deploy_gets_wrong(task):
    operations = unkilled(task, world_for(task)).operations
    assert operations, f"{task} ran no remote operation"
    violations = []
    for n in range(1, len(operations) + 1):
        world = world_for(task)
        killed = executor(kill(task, world, n))
        assert len(killed.operations) == n, f"{task} ran {len(killed.operations)} operations this time, not {n}+"
        operation = killed.operations[-1]
        holds.unlock(world_run(ENV, world, "deploy.unlock"), force=True)
        problems = status_problems(world)
        problems += next_deploy(world)[1]
        violations += [f"{task} killed at operation {n} ({operation}): {problem}" for problem in problems]
    assert not violations, f"{len(violations)} violations:\n" + "\n".join(violations)


def test_a_deploy_killed_right_after_the_flag_moved_is_completed_by_the_next_deploy():
    """The issue: the flag already on the new colour, state.json still naming the old one as active."""
    world = starting_world(ENV)
    operations = unkilled("deploy.prod", world.copy()).operations
    flip = next(n for n, operation in enumerate(operations, 1) if operation.endswith(f"rm -f {ENV.flag_path}"))
    killed = kill("deploy.prod", world, flip + 1)
    assert world.serving == "blue" and json.loads(world.state)["active"] == "green"
    holds.unlock(world_run(ENV, world, "deploy.unlock"), force=True)

    run, problems = next_deploy(world)
    assert not problems
    assert world.serving == "green" and set(world.containers["blue"].values()) == {KILLED_DEPLOY}
    assert {project for _, project, sub in executor(run).compose if sub == "up"} == {f"{ENV.app.project}-green"}
    [entry] = [entry for entry in map(json.loads, world.history) if entry["run_id"] == run.run_id]
    [repaired] = entry["state_repaired"]
    assert f"(run {killed.run_id}," in repaired and f"{KILLED_DEPLOY} into blue: completed from the LB" in repaired
