"""deploy.recover over the simulated world (tests/unit/crash_world.py): the record is repaired from the LB's flag,
the containers and the database, each repair said with both values; a record that agrees is not rewritten; a
database that cannot be read is said, never counted as agreeing; one at several heads stops it in its own words."""

from __future__ import annotations

import json

import pytest

from ghosttasks.commands import assumptions, postgres
from ghosttasks.domain.revisions import Refused
from ghosttasks.flows.recover import recover
from ghosttasks.testing import Answer, Rule, prod
from tests.unit.crash_world import World, WorldExecutor, starting_world, world_run

ENV = prod()


def recover_in(world: World) -> tuple[WorldExecutor, str]:
    run = world_run(ENV, world, "deploy.recover")
    recover(run)
    return run.executor, run.out.printed


def state_uploads(executor: WorldExecutor) -> list[str]:
    return [upload.content for upload in executor.uploads if upload.path == executor.state_path]


def test_a_record_that_lies_is_repaired_from_the_flag_the_containers_and_the_database():
    world = starting_world(ENV)  # green serves v1.1.0, blue holds v1.0.0, the schema at v1.1.0's head
    lie = json.loads(world.state)
    lie["active"], lie["previous"] = "blue", "green"
    lie["colors"]["green"]["version"] = assumptions.OLDER_VERSION
    lie["database_revision"] = "0000_never_applied"
    world.state = json.dumps(lie)

    _, said = recover_in(world)

    assert "state repaired: serving colour: state.json said blue, the LB sends traffic to green" in said
    assert (
        f"state repaired: green (serving): state.json said green runs {assumptions.OLDER_VERSION}, its containers run "
        f"{assumptions.NEWER_VERSION} on app1, app2" in said
    )
    assert (
        f"state repaired: database revision: state.json said 0000_never_applied, the database is at "
        f"{assumptions.NEWER_HEAD}" in said
    )
    assert "ok   state.json repaired: it agrees with the LB, the containers and the database" in said
    assert world.record_disagrees() == []
    repaired = json.loads(world.state)
    assert (repaired["active"], repaired["previous"], repaired["database_revision"]) == (
        "green",
        "blue",
        assumptions.NEWER_HEAD,
    )
    assert world.lock is None and json.loads(world.history[-1])["result"] == "ok"


def test_a_record_that_agrees_is_not_rewritten():
    world = starting_world(ENV)
    before = world.state
    executor, said = recover_in(world)
    assert "ok   state.json agrees with the LB, the containers and the database: nothing to repair" in said
    assert "state repaired" not in said
    assert state_uploads(executor) == [] and world.state == before


def test_a_database_that_cannot_be_read_is_said_and_not_counted_as_agreeing():
    world = starting_world(ENV)
    before = world.state
    run = world_run(ENV, world, "deploy.recover")
    run.executor.rules.insert(0, Rule(postgres.ALEMBIC_VERSION_SQL, Answer("", "connection refused", 2), None))
    recover(run)
    said = run.out.printed
    assert f"warn database revision: not read, state.json keeps {assumptions.NEWER_HEAD} (" in said
    assert "ok   state.json agrees with the LB and the containers: nothing to repair" in said
    assert world.state == before
    [line] = json.loads(world.history[-1])["unevaluated"]
    assert line.startswith(f"database revision: not read, state.json keeps {assumptions.NEWER_HEAD} (")


def test_a_database_at_several_heads_stops_recover_with_its_own_words():
    world = starting_world(ENV)
    world.revision = f"{assumptions.NEWER_HEAD}\n0099_a_second_head"
    before = world.state
    run = world_run(ENV, world, "deploy.recover")
    with pytest.raises(Refused) as refused:
        recover(run)
    assert "0099_a_second_head" in str(refused.value) and refused.value.hint
    assert world.state == before and "not read" not in run.out.printed
