"""The pure rules of the lab state walk (tests/lab/walk_model.py) on made-up readings: no lab, no network."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from lab.drill_migrations import BAD_MIGRATION_SOURCE
from lab.releases import ALEMBIC_HEADS
from tests.lab import walk_model as model
from tests.lab.walk_model import Answer, Reality, Step

ROOT = Path(__file__).resolve().parents[2]
R1, R2, R3, R4, R5 = "0001a1b2c3d4", "0002b2c3d4e5", "0003c3d4e5f6", "0004d4e5f6a7", "0005e5f6a7b8"


def state(active="green", green="v1.1.0", blue="v1.0.0", failed=None, **extra) -> dict:
    colors = {"green": {"version": green, "failed_version": None}, "blue": {"version": blue, "failed_version": None}}
    if failed:
        colors[failed[0]]["failed_version"] = failed[1]
    return {"active": active, "previous": model.other(active), "colors": colors, **extra}


def reality(lb=("green", "v1.1.0"), db=R3, st="default", lock=False, db_error=None) -> Reality:
    return Reality(lb, "20x 200", db, db_error, state() if st == "default" else st, None, lock)


# -- the revision graph ---------------------------------------------------------------------------------------


def test_the_graph_is_the_one_the_lab_origin_ships():
    parents = {}
    sources = [p.read_text() for p in (ROOT / "lab" / "app" / "alembic" / "versions").glob("*.py")]
    for text in [*sources, BAD_MIGRATION_SOURCE]:
        revision = re.search(r'^revision = "(\w+)"', text, re.M).group(1)
        down = re.search(r"^down_revision = (None|\"(\w+)\")", text, re.M).group(2)
        parents[revision] = down
    assert parents == model.REVISION_PARENTS
    assert {ALEMBIC_HEADS[v] for v in model.GOOD_VERSIONS} <= model.KNOWN_REVISIONS
    assert set(model.FAULT_VERSIONS) <= set(ALEMBIC_HEADS)
    assert ALEMBIC_HEADS[model.BADMIGRATION] not in model.KNOWN_REVISIONS


def test_satisfies_follows_the_graph_not_the_string_order():
    assert model.ancestry(R5) == (R5, R3, R2, R1)
    assert model.ancestry(None) == () and model.ancestry("deadbeef") == ()
    assert model.satisfies(R5, R3) and model.satisfies(R3, R3)
    assert not model.satisfies(R2, R3) and not model.satisfies(None, R1)
    assert not model.satisfies(R5, R4), "0005 does not contain the failed branch 0004"
    assert not model.satisfies(R4, R5)


def test_moved_forward():
    assert model.moved_forward(R2, R3) and model.moved_forward(R3, R5) and model.moved_forward(None, R1)
    assert not model.moved_forward(R3, R3) and not model.moved_forward(R3, R2)
    assert not model.moved_forward(R4, R5), "sideways is not forward"
    assert model.parent(R5) == R3 and model.parent(R1) is None and model.parent(None) is None


# -- the plan -------------------------------------------------------------------------------------------------


def test_kinds_of_state_are_told_apart_as_the_planner_does():
    assert model.kind(reality()) == "idle colour older, schema at the serving head"
    assert model.kind(reality(lb=("blue", "v1.0.0"), st=state(active="blue"))) == (
        "idle colour newer, schema ahead of the serving head"
    )
    assert model.kind(reality(st=state(failed=("blue", model.UNHEALTHY)))) == (
        "idle colour failed, schema at the serving head"
    )
    assert (
        model.kind(reality(st=state(blue="v1.1.0"), db=R5))
        == "idle colour on the same version, schema ahead of the serving head"
    )
    assert model.kind(reality(st=state(blue=None))).startswith("idle colour empty")
    assert model.kind(reality(db=R2)) == "idle colour older, schema behind the serving head"
    assert model.kind(reality(lb=None)).startswith("unsettled")


def run_guided(seed: int, steps: int, worlds: list[Reality]) -> list[tuple[str, model.Action]]:
    """The guided choice over a fixed run of readings (as if each step led to the next; the last one stays)."""
    rng, coverage, chosen = random.Random(seed), model.Coverage(), []
    for number in range(steps):
        world = worlds[min(number, len(worlds) - 1)]
        action, step = model.choose(rng, world, coverage)
        assert model.skip_reason(step, world) is None
        coverage.record(model.kind(world), action)
        chosen.append((model.kind(world), action))
    return chosen


def test_every_command_runs_once_before_any_runs_twice_cheapest_first():
    chosen = run_guided(533, len(model.ACTIONS), [reality()])
    assert sorted(action.name for _, action in chosen) == sorted(action.name for action in model.ACTIONS)
    seconds = [action.seconds for _, action in chosen]
    assert seconds == sorted(seconds)


def test_then_the_pairs_not_yet_run_from_this_kind_of_state():
    newer = reality(lb=("blue", "v1.0.0"), st=state(active="blue"))
    chosen = run_guided(533, len(model.ACTIONS) + 5, [reality()] * len(model.ACTIONS) + [newer])
    tail = chosen[len(model.ACTIONS) :]
    assert all(where == model.kind(newer) for where, _ in tail)
    assert len({action.name for _, action in tail}) == 5, "five different commands from the new kind of state"
    assert all(action.seconds <= 3 for _, action in tail), "the cheapest first"


def test_the_guided_walk_is_a_function_of_the_seed_and_the_readings():
    worlds = [reality(), reality(lb=("blue", "v1.0.0"), st=state(active="blue")), reality(db=R5)]
    assert run_guided(533, 40, worlds) == run_guided(533, 40, worlds)
    assert run_guided(533, 40, worlds) != run_guided(534, 40, worlds)


def test_the_guided_walk_covers_every_kind_it_meets_and_names_what_is_missing():
    coverage = model.Coverage()
    assert coverage.missing() == [action.name for action in model.ACTIONS]
    for _, action in run_guided(7, 60, [reality(), reality(db=R5)]):
        coverage.record("k", action)
    assert coverage.missing() == []
    assert coverage.table().startswith(f"{len(model.ACTIONS)} (kind of state, command) pairs over 1 kinds of state:")


def test_step_commands():
    assert Step("deploy", "v1.3.0").commands() == [
        ("deploy.prod", "--version", "v1.3.0", "--yes", "--monitor-minutes", "0")
    ]
    assert Step("deploy", model.UNHEALTHY).commands()[0][-2:] == ("--health-timeout", "5")
    assert Step("switch", "blue").commands(("--env", "prod")) == [("traffic.switch", "blue", "--yes", "--env", "prod")]
    assert Step("rollback").commands() == [("deploy.rollback", "--yes")]
    assert Step("rollback", "v1.0.0").commands() == [("deploy.rollback", "--to", "v1.0.0", "--yes")]
    assert Step("downgrade", "-1").commands() == [("db.downgrade", "-r", "-1", "--yes")]
    assert Step("upgrade", "head").commands() == [("db.upgrade", "--yes")]
    assert Step("upgrade", R2).commands() == [("db.upgrade", "-r", R2, "--yes")]
    assert Step("rollback", "v1.1.0", db_rev=R3).commands() == [
        ("deploy.rollback", "--to", "v1.1.0", "--db-rev", R3, "--yes")
    ]
    assert Step("current").commands() == [("db.current",)]
    assert Step("emergency").commands() == [
        ("deploy.emergency-rollback", "--reason", "walk"),
        ("deploy.unlock", "--force"),
    ]
    with pytest.raises(ValueError):
        Step("nope").commands()


def test_the_walk_never_takes_the_database_to_base():
    at_first = reality(db=R1)
    assert model.skip_reason(Step("downgrade", "-1"), at_first) == (
        "db.downgrade -r -1 at 0001a1b2c3d4 would drop the seeded users (base)"
    )
    assert model.skip_reason(Step("downgrade", R1), at_first) is None
    assert model.skip_reason(Step("downgrade", "-1"), reality(db=R2)) is None
    assert model.skip_reason(Step("deploy", "v1.0.0"), at_first) is None


# -- readings -------------------------------------------------------------------------------------------------


def test_summarize_lb():
    ok = Answer(200, "green", "v1.1.0", "ok")
    assert model.summarize_lb([ok] * 20) == (("green", "v1.1.0"), "20x 200 green v1.1.0")
    mixed, detail = model.summarize_lb([ok] * 19 + [Answer(200, "blue", "v1.0.0", "ok")])
    assert mixed is None and detail == "19x 200 green v1.1.0, 1x 200 blue v1.0.0"
    sick, detail = model.summarize_lb([Answer(503, "blue", model.UNHEALTHY, "starting")] * 3)
    assert sick is None and detail == "3x 503 blue v1.2.0-unhealthy (starting)"
    down, detail = model.summarize_lb([ok, Answer(None, error="ConnectError")])
    assert down is None and "1x ConnectError" in detail
    assert model.summarize_lb([Answer(200, "purple", "v1", "ok")])[0] is None
    assert model.summarize_lb([]) == (None, "no answers")


# -- the invariants -------------------------------------------------------------------------------------------


def test_a_consistent_world_breaks_nothing():
    assert model.check_reality(reality()) == []
    assert model.check_reality(reality(db=R5)) == [], "older code on a newer schema is normal"
    assert model.check_reality(reality(st=state(database_revision=R3))) == []
    assert model.check_reality(reality(lock=True), lock_allowed=True) == []


@pytest.mark.parametrize(
    ("world", "expected"),
    [
        (reality(lb=None), "(i) the LB does not answer only from one healthy colour"),
        (reality(db=R2), "(ii) the database is at 0002b2c3d4e5, behind 0003c3d4e5f6, the head of the serving v1.1.0"),
        (reality(db=None), "(ii) alembic_version is empty"),
        (reality(db=R4), "(ii) the database is at 0004d4e5f6a7, not one of the known revisions"),
        (reality(db=None, db_error="boom"), "(ii) the database revision could not be read: boom"),
        (reality(lb=("green", "v9.9.9")), "(ii) the LB serves v9.9.9, which is no release"),
        (reality(lb=("blue", "v1.0.0")), "(iii) state.json says green is active, the LB answers from blue"),
        (reality(st=state(green="v1.3.0"), db=R5), "(iii) state.json says green runs v1.3.0, the LB answers v1.1.0"),
        (reality(st=state(database_revision=R2)), "(iii) state.json says database_revision 0002b2c3d4e5"),
        (reality(st=None), "(iii) there is no state.json"),
        (reality(lock=True), "(v) the deploy lock is left held"),
    ],
)
def test_each_break_is_named(world, expected):
    problems = model.check_reality(world)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_badmigration_serving_on_a_newer_schema_is_a_break():
    world = reality(lb=("blue", model.BADMIGRATION), db=R5, st=state(active="blue", blue=model.BADMIGRATION))
    assert model.check_reality(world) == [
        f"(ii) the database is at {R5}, behind {R4}, the head of the serving {model.BADMIGRATION}: "
        "newer code runs on an older schema"
    ]


def test_a_failed_command_changes_nothing_except_a_deploy_moving_the_schema_forward():
    before = reality()
    assert model.check_unchanged("traffic.switch", 1, before, reality()) == []
    assert model.check_unchanged("traffic.switch", 0, before, reality(lb=("blue", "v1.0.0"))) == []
    moved = model.check_unchanged("traffic.switch", 1, before, reality(lb=("blue", "v1.0.0")))
    assert moved == ["(iv) traffic.switch exited 1 but the LB moved from green v1.1.0 to blue v1.0.0"]
    assert model.check_unchanged("deploy.prod", 1, before, reality(db=R5)) == []
    back = model.check_unchanged("deploy.prod", 1, before, reality(db=R2))
    assert back == [f"(iv) deploy.prod exited 1 but the database moved backward (or sideways) from {R3} to {R2}"]
    assert model.check_unchanged("db.downgrade", None, before, reality(db=R2))[0].startswith(
        "(iv) db.downgrade exited on its timeout"
    )
    assert model.check_unchanged("db.upgrade", 1, before, reality(db=R5))[0].startswith("(iv) db.upgrade exited 1")
    assert model.check_unchanged("db.current", 0, before, reality(db=R2))[0].startswith("(iv) db.current is a read")
    broken = model.check_unchanged("deploy.rollback", 1, before, reality(lb=None))
    assert broken == ["(iv) deploy.rollback exited 1 but the LB moved from green v1.1.0 to 20x 200"]


def test_expected_exits_on_a_healthy_lab():
    before = reality()
    assert model.expected_exit(Step("current"), 0, before) == (True, "db.current is a read on a healthy lab")
    assert model.expected_exit(Step("deploy", "v1.3.0"), 0, before)[0] is True
    assert model.expected_exit(Step("deploy", model.UNHEALTHY), 0, before)[0] is False
    assert model.expected_exit(Step("switch", "blue"), 0, before)[0] is True
    assert model.expected_exit(Step("switch", "green"), 0, before)[0] is True
    failed = reality(st=state(failed=("blue", model.UNHEALTHY)))
    assert model.expected_exit(Step("switch", "blue"), 0, failed) == (
        False,
        "blue holds the failed deploy of v1.2.0-unhealthy",
    )
    behind = reality(st=state(blue="v1.3.0"))  # blue's v1.3.0 needs 0005, the schema is at 0003
    assert model.expected_exit(Step("switch", "blue"), 0, behind) is None
    assert model.expected_exit(Step("emergency"), 0, before) is None
    assert model.expected_exit(Step("emergency"), 1, before)[0] is True
    assert model.expected_exit(Step("rollback"), 0, before) is None
    assert model.expected_exit(Step("downgrade", "-1"), 0, before) is None


def test_effects_of_commands_that_exited_zero():
    before = reality()
    blue = reality(lb=("blue", "v1.0.0"), st=state(active="blue"))
    assert model.check_effect(Step("switch", "blue"), 0, 0, before, blue) == []
    assert model.check_effect(Step("switch", "blue"), 0, 1, before, before) == [], "only exit 0 is judged"
    assert model.check_effect(Step("switch", "blue"), 0, 0, before, before) == [
        "(vii) traffic.switch exited 0 but the LB answers green v1.1.0, not blue v1.0.0"
    ]
    assert model.check_effect(Step("deploy", "v1.3.0"), 0, 0, before, reality(lb=("blue", "v1.3.0"), db=R5)) == []
    rolled = reality(lb=("blue", "v1.0.0"), db=R2, st=state(active="blue"))
    assert model.check_effect(Step("rollback"), 0, 0, before, rolled) == []
    kept = model.check_effect(Step("rollback", "v1.0.0"), 0, 0, before, blue)
    assert kept == [f"(vii) deploy.rollback exited 0 but the database is at {R3}, not {R2}, the head v1.0.0 ships"]
    chosen = reality(lb=("blue", "v1.0.0"), db=R3, st=state(active="blue"))
    assert model.check_effect(Step("rollback", "v1.0.0", db_rev=R3), 0, 0, reality(db=R5), chosen) == []
    frozen = reality(lb=("blue", "v1.0.0"), st=state(active="blue"), lock=True)
    assert model.check_effect(Step("emergency"), 0, 0, before, frozen) == []
    assert model.check_effect(Step("emergency"), 0, 0, before, blue) == [
        "(vii) deploy.emergency-rollback exited 0 but left no freeze lock"
    ]
    assert model.check_effect(Step("downgrade", "-1"), 0, 0, reality(db=R5), reality(db=R3)) == []
    assert model.check_effect(Step("downgrade", R2), 0, 0, before, reality(db=R2)) == []
    assert model.check_effect(Step("downgrade", R2), 0, 0, before, before) == [
        f"(vii) db.downgrade exited 0 but the database is at {R3}, not {R2}"
    ]
    assert model.check_effect(Step("upgrade", "head"), 0, 0, reality(db=R2), before) == []
    assert model.check_effect(Step("upgrade", "head"), 0, 0, reality(db=R5), reality(db=R5)) == [], "no-op"
    assert model.check_effect(Step("upgrade", R2), 0, 0, before, before) == [], "already past it: no-op"
    moved_lb = model.check_effect(Step("current"), 0, 0, before, blue)
    assert moved_lb and moved_lb[0].startswith("(vii) db.current exited 0 and moved the LB")


def test_reality_describes_itself_in_one_line():
    text = reality(st=state(failed=("blue", model.UNHEALTHY)), lock=True).describe()
    assert text == (
        "LB green v1.1.0 [20x 200]; db 0003c3d4e5f6; state active green (blue v1.0.0 failed v1.2.0-unhealthy, "
        "green v1.1.0); lock HELD"
    )
    assert "db unreadable (boom)" in reality(db=None, db_error="boom").describe()
    assert model.describe_state(None) == "absent"
