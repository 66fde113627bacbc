"""The migration planner over the whole small state space of the lab's versions, plus the issue's sequences.

Every state: either colour active, each colour empty / holding a version / holding a failed deploy, the
database at any revision some version knows. Every request: db.upgrade/downgrade (head, base, -1, +1,
each revision, with and without --force), db.stamp, traffic.switch to either colour, deploy.rollback
(with and without --to/--db-rev), the deploy's migrate step, the automatic/emergency switch back.
Invariants checked on every plan the planner gives (it may refuse, with a Refused, never anything else).
"""

from __future__ import annotations

import itertools

import pytest

from ghosttasks.decisions.migration_plan import (
    Migration,
    plan_deploy_migration,
    plan_migration,
    plan_rollback,
    plan_stamp,
    plan_switch,
    plan_switch_back,
)
from ghosttasks.domain.colors import COLORS, other
from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.revisions import Knowledge, Refused, parse_alembic_history, release_key, resolve_revision

R1, R2, R3, R4, R5 = "0001a1b2c3d4", "0002b2c3d4e5", "0003c3d4e5f6", "0004d4e5f6a7", "0005e5f6a7b8"
CHAINS = {
    "v1.0.0": (R1, R2),
    "v1.1.0": (R1, R2, R3),
    "v1.2.0-badmigration": (R1, R2, R3, R4),
    "v1.3.0": (R1, R2, R3, R5),
}
GOOD = ("v1.0.0", "v1.1.0", "v1.3.0")
KNOWN = Knowledge(CHAINS)
REVISIONS = (None, R1, R2, R3, R5)  # what a database can be at (R4's migration never applies)
SPECS = ("head", "base", "-1", "+1", "-2", R1, R2, R3, R5, "0003")


def state_of(active, blue, green) -> DeployState:
    """blue/green: None (empty), a version, or ("failed", version)."""
    colors = {}
    for color, holding in (("blue", blue), ("green", green)):
        if isinstance(holding, tuple):
            colors[color] = ColorState(holding[1], CHAINS[holding[1]][-1], failed_version=holding[1])
        else:
            colors[color] = ColorState(holding, CHAINS[holding][-1] if holding else None)
    state = DeployState(active=active, previous=other(active) if active else None, colors=colors)
    state.version_chains = {version: list(chain) for version, chain in CHAINS.items()}
    return state


def serving_head(state: DeployState) -> str | None:
    return KNOWN.head(state.colors[state.active].version) if state.active else None


def holdings():
    return [None, *GOOD, ("failed", "v1.2.0-badmigration"), ("failed", "v1.1.0")]


def states():
    """Every reachable state: the active colour serves a good version on a schema at or after its head."""
    for active, blue, green in itertools.product(COLORS, holdings(), holdings()):
        serving_holding = blue if active == "blue" else green
        if serving_holding is None or isinstance(serving_holding, tuple):
            continue
        state = state_of(active, blue, green)
        for current in REVISIONS:
            if KNOWN.at_or_after(current, serving_head(state)):
                yield state, current


ALL_STATES = list(states())


def check_migration(migration: Migration, current: str | None) -> None:
    assert migration.current == current
    assert KNOWN.knows(migration.runner.version, current), "the runner's code must know the current revision"
    assert KNOWN.knows(migration.runner.version, migration.target), "the runner's code must know the target"
    order = KNOWN.order(migration.target, current)
    assert order == (1 if migration.direction == "upgrade" else -1), "direction from the chain, never a guess"
    assert migration.target is None or migration.target in KNOWN.all_revisions()


def test_the_state_space_is_not_trivial():
    assert len(ALL_STATES) > 50


@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
@pytest.mark.parametrize("force", [False, True])
def test_db_migrations_in_every_state(direction, force):
    planned = refused = 0
    for (state, current), spec in itertools.product(ALL_STATES, SPECS):
        try:
            migration = plan_migration(state, KNOWN, current, spec, requested=direction, force=force)
        except Refused as exc:
            refused += 1
            assert str(exc)
            continue
        planned += 1
        if migration is None:
            continue
        check_migration(migration, current)
        assert migration.direction == direction
        if not force:
            assert KNOWN.at_or_after(migration.target, serving_head(state)), "newer code never on an older schema"
    assert planned and refused


def test_a_downgrade_below_the_serving_head_is_refused_and_names_where_to_move_traffic():
    state = state_of("green", "v1.0.0", "v1.1.0")
    with pytest.raises(Refused) as refused:
        plan_migration(state, KNOWN, R3, "-1", requested="downgrade")
    assert "v1.1.0 serves on green" in str(refused.value)
    assert "move traffic to blue (v1.0.0) first" in refused.value.hint
    forced = plan_migration(state, KNOWN, R3, "-1", requested="downgrade", force=True)
    assert (forced.target, forced.runner.color) == (R2, "green")


def test_a_downgrade_spec_that_is_an_upgrade_is_refused():
    with pytest.raises(Refused, match="that is an upgrade, not a downgrade"):
        plan_migration(state_of("green", "v1.0.0", "v1.3.0"), KNOWN, R3, R5, requested="downgrade")


def test_the_design_card_sequence_switch_back_then_downgrade():
    """green v1.3.0 serving (head R5), blue v1.1.0: switch to blue, then downgrade -1 from green's container."""
    state = state_of("green", "v1.1.0", "v1.3.0")
    switch = plan_switch(state, KNOWN, R5, "blue")
    assert (switch.color, switch.before) == ("blue", None)
    state.after_switch("blue")
    migration = plan_migration(state, KNOWN, R5, "-1", requested="downgrade")
    assert (migration.direction, migration.target, migration.runner.color) == ("downgrade", R3, "green")


def test_rollback_from_the_older_active_colour_only_takes_the_schema_back():
    state = state_of("blue", "v1.1.0", "v1.3.0")
    plan = plan_rollback(state, KNOWN, R5, to=None, db_rev=None)
    assert (plan.switch, plan.before_switch) == (False, None)
    assert (plan.after_switch.target, plan.after_switch.runner.color) == (R3, "green")
    with pytest.raises(Refused, match="nothing to roll back"):
        plan_rollback(state, KNOWN, R3, to=None, db_rev=None)


def test_rollback_from_the_newer_colour_switches_then_downgrades_from_the_newer_code():
    plan = plan_rollback(state_of("green", "v1.1.0", "v1.3.0"), KNOWN, R5, to=None, db_rev=None)
    assert (plan.target, plan.version, plan.redeploy, plan.switch) == ("blue", "v1.1.0", False, True)
    assert plan.before_switch is None
    assert (plan.after_switch.target, plan.after_switch.runner) == (R3, plan.after_switch.runner)
    assert plan.after_switch.runner.color == "green"


@pytest.mark.parametrize("force", [False, True])
def test_rollback_in_every_state(force):
    outcomes = set()
    requests = itertools.product([None, *GOOD], [None, R1, R2, R3, R5])
    for (state, current), (to, db_rev) in itertools.product(ALL_STATES, requests):
        try:
            plan = plan_rollback(state, KNOWN, current, to=to, db_rev=db_rev, force=force)
        except Refused as exc:
            outcomes.add("refused")
            assert str(exc)
            continue
        outcomes.add("switch" if plan.switch else "schema only")
        database, serving_version = current, plan.source_version
        assert plan.target != plan.source or not plan.switch
        assert not (plan.before_switch and plan.after_switch)
        for step, migration in (("before", plan.before_switch), ("after", plan.after_switch)):
            if step == "after" and plan.switch:
                serving_version = plan.version
            if migration:
                check_migration(migration, database)
                runner = migration.runner
                if runner.color and plan.redeploy and runner.color == plan.target:
                    assert runner.version == plan.version, "a replaced colour runs only the redeployed version"
                elif runner.color:
                    assert state.colors[runner.color].runs == runner.version, "alembic runs in a live container"
                database = migration.target
            if step == "before" and plan.switch:
                serving_version = plan.version
            if not force:
                assert KNOWN.at_or_after(database, KNOWN.head(serving_version)), (state, current, to, db_rev, plan)
        if plan.switch and plan.before_switch:
            assert plan.before_switch.direction == "upgrade", "only expansions happen before traffic moves"
        if plan.after_switch:
            assert plan.after_switch.direction == "downgrade", "contractions happen after traffic left"
    assert outcomes == {"refused", "switch", "schema only"}


def test_switch_in_every_state():
    for (state, current), color in itertools.product(ALL_STATES, COLORS):
        try:
            plan = plan_switch(state, KNOWN, current, color)
        except Refused:
            assert state.colors[color].runs is None or not KNOWN.knows(state.colors[color].runs, current)
            continue
        database = current
        if plan.before:
            check_migration(plan.before, current)
            assert plan.before.direction == "upgrade"
            database = plan.before.target
        assert KNOWN.at_or_after(database, KNOWN.head(plan.version)), "the new colour never serves behind its head"


def test_switch_to_a_failed_or_empty_colour_is_refused():
    state = state_of("green", ("failed", "v1.2.0-badmigration"), "v1.1.0")
    with pytest.raises(Refused, match=r"failed deploy of v1\.2\.0-badmigration"):
        plan_switch(state, KNOWN, R3, "blue")
    with pytest.raises(Refused, match="never been deployed"):
        plan_switch(state_of("green", None, "v1.1.0"), KNOWN, R3, "blue")


def test_switch_to_a_version_ahead_of_the_database_upgrades_first():
    state = state_of("blue", "v1.1.0", "v1.3.0")
    plan = plan_switch(state, KNOWN, R3, "green")
    assert (plan.before.direction, plan.before.target, plan.before.runner.color) == ("upgrade", R5, "green")


def test_switch_back_never_migrates_and_says_so_loudly_when_the_schema_is_behind():
    for (state, current), color in itertools.product(ALL_STATES, COLORS):
        try:
            plan = plan_switch_back(state, KNOWN, current, color)
        except Refused:
            assert state.colors[color].runs is None
            continue
        assert plan.before is None
        behind = not KNOWN.at_or_after(current, KNOWN.head(plan.version))
        assert bool(plan.warning) == behind


@pytest.mark.parametrize("version", sorted(CHAINS))
def test_the_deploy_migration_in_every_database_state(version):
    for current in REVISIONS:
        try:
            plan = plan_deploy_migration(KNOWN, current, version, "blue")
        except Refused:
            assert not KNOWN.knows(version, current) and not KNOWN.at_or_after(current, KNOWN.head(version))
            continue
        if plan.migration:
            check_migration(plan.migration, current)
            assert (plan.migration.direction, plan.migration.target) == ("upgrade", KNOWN.head(version))
        else:
            assert KNOWN.at_or_after(current, KNOWN.head(version)), "an older version only on a newer schema"
        assert plan.database_ahead == (
            plan.migration is None and current != KNOWN.head(version) and bool(KNOWN.head(version))
        )


def test_deploying_an_older_version_on_a_newer_schema_does_not_migrate():
    plan = plan_deploy_migration(KNOWN, R5, "v1.0.0", "blue")
    assert plan.migration is None and plan.database_ahead
    assert "newer than anything v1.0.0 ships" in plan.note


def test_stamp_runs_where_the_code_knows_the_target():
    state = state_of("blue", "v1.0.0", "v1.3.0")
    assert plan_stamp(state, KNOWN, R2, R5).runner.color == "green"
    assert plan_stamp(state, KNOWN, R2, R1).runner.color == "blue"


@pytest.mark.parametrize(
    ("spec", "current", "expected"),
    [
        ("head", R2, R3),
        ("base", R3, None),
        ("-1", R3, R2),
        ("-2", R3, R1),
        ("+1", R2, R3),
        ("0003", R1, R3),
        (f"{R2}+1", R1, R3),
    ],
)
def test_resolve_revision(spec, current, expected):
    assert resolve_revision(spec, current, KNOWN, head_of="v1.1.0") == expected


@pytest.mark.parametrize(("spec", "message"), [("ffff", "not one that any"), ("000", "ambiguous"), ("-9", "below")])
def test_resolve_refuses(spec, message):
    with pytest.raises(Refused, match=message):
        resolve_revision(spec, R3, KNOWN, head_of="v1.1.0")


def test_parse_history_gives_the_chain_base_first():
    text = (
        f"{R3} -> {R5} (head), artifact descriptions\n{R2} -> {R3}, artifact tags\n"
        f"{R1} -> {R2}, artifacts\n<base> -> {R1}, tenants and users\n"
    )
    assert parse_alembic_history(text) == (R1, R2, R3, R5)
    assert parse_alembic_history("") == ()
    with pytest.raises(ValueError, match="branches"):
        parse_alembic_history(f"<base> -> {R1}, a\n{R1} -> {R2}, b\n{R1} -> {R3}, c\n")


def test_release_key_orders_pre_releases_before_their_release():
    ordered = sorted(["v1.3.0", "v1.2.0", "v1.2.0-errors", "v1.10.0", "v1.0.0"], key=release_key)
    assert ordered == ["v1.0.0", "v1.2.0-errors", "v1.2.0", "v1.3.0", "v1.10.0"]
