"""The migration planner over the whole small state space of two histories, plus the issue's sequences.

Two worlds: the lab demo's hex chain, and a history with sequential ids, a branch point and a merge point
(0001_init; 0002_orders and 0003_customers both on 0001_init; 0004_merge of the two; 0005_status after it), with
a version whose head is one side of the branch (0003_customers alone). Every state: either colour active, each
colour empty / holding a version / holding a failed deploy, the database at any revision some version knows.
Every request: db.upgrade/downgrade (head, base, -1, +1, each revision, with and without --force), db.stamp,
traffic.switch to either colour, deploy.rollback (with and without --to/--db-rev), the deploy's migrate step,
the automatic/emergency switch back. Invariants checked on every plan the planner gives (it may refuse, with a
Refused, never anything else).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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
from ghosttasks.domain.revision_graph import RevisionGraph
from ghosttasks.domain.revisions import Knowledge, Refused, release_key, resolve_revision

R1, R2, R3, R4, R5 = "0001a1b2c3d4", "0002b2c3d4e5", "0003c3d4e5f6", "0004d4e5f6a7", "0005e5f6a7b8"
CHAINS = {
    "v1.0.0": (R1, R2),
    "v1.1.0": (R1, R2, R3),
    "v1.2.0-badmigration": (R1, R2, R3, R4),
    "v1.3.0": (R1, R2, R3, R5),
}
GOOD = ("v1.0.0", "v1.1.0", "v1.3.0")
KNOWN = Knowledge.of_chains(CHAINS)
REVISIONS = (None, R1, R2, R3, R5)  # what a database can be at (R4's migration never applies)
SPECS = ("head", "base", "-1", "+1", "-2", R1, R2, R3, R5, "0003")

INIT, ORDERS, CUSTOMERS, MERGE, STATUS, BAD = (
    "0001_init",
    "0002_orders",
    "0003_customers",
    "0004_merge",
    "0005_status",
    "0006_bad",
)
MERGED_PARENTS = {
    INIT: (),
    ORDERS: (INIT,),
    CUSTOMERS: (INIT,),
    MERGE: (ORDERS, CUSTOMERS),
    STATUS: (MERGE,),
    BAD: (STATUS,),
}


def _upto(head: str) -> RevisionGraph:
    """The merged history up to `head` (its ancestors), as the version with that head ships it."""
    graph = RevisionGraph.of(MERGED_PARENTS)
    return RevisionGraph.of({r: graph.parents[r] for r in graph.ancestors(head)})


MERGED_KNOWN = Knowledge(
    {
        "v1.0.0": _upto(INIT),
        "v1.1.0": _upto(ORDERS),
        "v1.1.1-customers": _upto(CUSTOMERS),
        "v1.2.0": _upto(MERGE),
        "v1.3.0": _upto(STATUS),
        "v1.4.0-bad": _upto(BAD),
    }
)


@dataclass(frozen=True)
class World:
    name: str
    known: Knowledge
    good: tuple[str, ...]
    failed: tuple[str, ...]
    revisions: tuple[str | None, ...]  # what a database can be at
    specs: tuple[str, ...]


WORLDS = [
    World("hex chain", KNOWN, GOOD, ("v1.2.0-badmigration", "v1.1.0"), REVISIONS, SPECS),
    World(
        "merge",
        MERGED_KNOWN,
        ("v1.0.0", "v1.1.0", "v1.1.1-customers", "v1.2.0", "v1.3.0"),
        ("v1.4.0-bad", "v1.2.0"),
        (None, INIT, ORDERS, CUSTOMERS, MERGE, STATUS),
        ("head", "base", "-1", "+1", "-2", INIT, ORDERS, CUSTOMERS, MERGE, STATUS, "0003", f"{STATUS}-1"),
    ),
]
WORLD_IDS = [world.name for world in WORLDS]


def state_of(active, blue, green, known: Knowledge = KNOWN) -> DeployState:
    """blue/green: None (empty), a version, or ("failed", version)."""
    colors = {}
    for color, holding in (("blue", blue), ("green", green)):
        if isinstance(holding, tuple):
            colors[color] = ColorState(holding[1], known.head(holding[1]), failed_version=holding[1])
        else:
            colors[color] = ColorState(holding, known.head(holding) if holding else None)
    state = DeployState(active=active, previous=other(active) if active else None, colors=colors)
    state.version_graphs = {version: graph.as_json() for version, graph in known.graphs.items()}
    return state


def serving_head(state: DeployState, known: Knowledge = KNOWN) -> str | None:
    return known.head(state.colors[state.active].version) if state.active else None


def holdings(world: World):
    return [None, *world.good, *(("failed", version) for version in world.failed)]


def states(world: World):
    """Every reachable state: the active colour serves a good version on a schema at or after its head."""
    for active, blue, green in itertools.product(COLORS, holdings(world), holdings(world)):
        serving_holding = blue if active == "blue" else green
        if serving_holding is None or isinstance(serving_holding, tuple):
            continue
        state = state_of(active, blue, green, world.known)
        for current in world.revisions:
            if world.known.at_or_after(current, serving_head(state, world.known)):
                yield state, current


ALL_STATES = list(states(WORLDS[0]))
STATES = {world.name: list(states(world)) for world in WORLDS}


def check_migration(migration: Migration, current: str | None, known: Knowledge = KNOWN) -> None:
    assert migration.current == current
    assert known.knows(migration.runner.version, current), "the runner's code must know the current revision"
    assert known.knows(migration.runner.version, migration.target), "the runner's code must know the target"
    order = known.order(migration.target, current)
    assert order == (1 if migration.direction == "upgrade" else -1), "direction from ancestry, never a guess"
    assert migration.target is None or migration.target in known.all_revisions()
    if migration.direction == "downgrade":
        assert known.left_behind(current, migration.target) == (), "a downgrade ends at one head"


@pytest.mark.parametrize("world", WORLDS, ids=WORLD_IDS)
def test_the_state_space_is_not_trivial(world):
    assert len(STATES[world.name]) > 50


@pytest.mark.parametrize("world", WORLDS, ids=WORLD_IDS)
@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
@pytest.mark.parametrize("force", [False, True])
def test_db_migrations_in_every_state(world, direction, force):
    known = world.known
    planned = refused = 0
    for (state, current), spec in itertools.product(STATES[world.name], world.specs):
        try:
            migration = plan_migration(state, known, current, spec, requested=direction, force=force)
        except Refused as exc:
            refused += 1
            assert str(exc)
            continue
        planned += 1
        if migration is None:
            continue
        check_migration(migration, current, known)
        assert migration.direction == direction
        if not force:
            assert known.at_or_after(migration.target, serving_head(state, known)), "newer code never on older schema"
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


@pytest.mark.parametrize("world", WORLDS, ids=WORLD_IDS)
@pytest.mark.parametrize("force", [False, True])
def test_rollback_in_every_state(world, force):
    known = world.known
    outcomes = set()
    requests = itertools.product([None, *world.good], world.revisions)
    for (state, current), (to, db_rev) in itertools.product(STATES[world.name], requests):
        try:
            plan = plan_rollback(state, known, current, to=to, db_rev=db_rev, force=force)
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
                check_migration(migration, database, known)
                runner = migration.runner
                if runner.color and plan.redeploy and runner.color == plan.target:
                    assert runner.version == plan.version, "a replaced colour runs only the redeployed version"
                elif runner.color:
                    assert state.colors[runner.color].runs == runner.version, "alembic runs in a live container"
                database = migration.target
            if step == "before" and plan.switch:
                serving_version = plan.version
            if not force:
                assert known.at_or_after(database, known.head(serving_version)), (state, current, to, db_rev, plan)
        if plan.switch and plan.before_switch:
            assert plan.before_switch.direction == "upgrade", "only expansions happen before traffic moves"
        if plan.after_switch:
            assert plan.after_switch.direction == "downgrade", "contractions happen after traffic left"
    assert outcomes == {"refused", "switch", "schema only"}


@pytest.mark.parametrize("world", WORLDS, ids=WORLD_IDS)
def test_switch_in_every_state(world):
    known = world.known
    for (state, current), color in itertools.product(STATES[world.name], COLORS):
        try:
            plan = plan_switch(state, known, current, color)
        except Refused:
            assert state.colors[color].runs is None or not known.knows(state.colors[color].runs, current)
            continue
        database = current
        if plan.before:
            check_migration(plan.before, current, known)
            assert plan.before.direction == "upgrade"
            database = plan.before.target
        assert known.at_or_after(database, known.head(plan.version)), "the new colour never serves behind its head"


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


@pytest.mark.parametrize("world", WORLDS, ids=WORLD_IDS)
def test_switch_back_never_migrates_and_says_so_loudly_when_the_schema_is_behind(world):
    known = world.known
    for (state, current), color in itertools.product(STATES[world.name], COLORS):
        try:
            plan = plan_switch_back(state, known, current, color)
        except Refused:
            assert state.colors[color].runs is None
            continue
        assert plan.before is None
        behind = not known.at_or_after(current, known.head(plan.version))
        assert bool(plan.warning) == behind


@pytest.mark.parametrize(
    ("world", "version"),
    [(world, version) for world in WORLDS for version in sorted(world.known.graphs)],
    ids=[f"{world.name}-{version}" for world in WORLDS for version in sorted(world.known.graphs)],
)
def test_the_deploy_migration_in_every_database_state(world, version):
    known = world.known
    for current in world.revisions:
        try:
            plan = plan_deploy_migration(known, current, version, "blue")
        except Refused:
            assert not known.knows(version, current) and not known.at_or_after(current, known.head(version))
            continue
        if plan.migration:
            check_migration(plan.migration, current, known)
            assert (plan.migration.direction, plan.migration.target) == ("upgrade", known.head(version))
        else:
            assert known.at_or_after(current, known.head(version)), "an older version only on a newer schema"
        assert plan.database_ahead == (
            plan.migration is None and current != known.head(version) and bool(known.head(version))
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


def test_release_key_orders_pre_releases_before_their_release():
    ordered = sorted(["v1.3.0", "v1.2.0", "v1.2.0-errors", "v1.10.0", "v1.0.0"], key=release_key)
    assert ordered == ["v1.0.0", "v1.2.0-errors", "v1.2.0", "v1.3.0", "v1.10.0"]


# -- a history with a merge point -------------------------------------------------------------------------------


def merged_state(active, blue, green) -> DeployState:
    return state_of(active, blue, green, MERGED_KNOWN)


def test_a_downgrade_to_one_side_of_the_merge_is_refused_naming_the_other_side():
    state = merged_state("blue", "v1.1.0", "v1.3.0")
    with pytest.raises(Refused) as refused:
        plan_migration(state, MERGED_KNOWN, STATUS, ORDERS, requested="downgrade")
    assert str(refused.value) == (
        "a downgrade from 0005_status to 0002_orders would leave 0003_customers applied as a second head "
        "(alembic takes back only what descends from 0002_orders)"
    )
    assert refused.value.hint == "name a revision every later one descends from: 0001_init"
    with pytest.raises(Refused, match="name the revision instead"):
        plan_migration(state, MERGED_KNOWN, MERGE, "-1", requested="downgrade")
    migration = plan_migration(state, MERGED_KNOWN, STATUS, "-1", requested="downgrade")
    assert (migration.target, migration.runner.color) == (MERGE, "green")


def test_branches_are_not_ordered_by_their_ids():
    state = merged_state("blue", "v1.1.0", "v1.1.1-customers")
    with pytest.raises(Refused, match="0003_customers and the database's 0002_orders are on separate branches"):
        plan_migration(state, MERGED_KNOWN, ORDERS, CUSTOMERS, requested="upgrade")
    with pytest.raises(Refused, match=r"0002_orders, which v1\.1\.1-customers does not know"):
        plan_switch(state, MERGED_KNOWN, ORDERS, "green")
    upgrade = plan_migration(state, MERGED_KNOWN, ORDERS, MERGE, requested="upgrade")
    assert (upgrade.direction, upgrade.runner.color) == ("upgrade", None)  # neither colour's code knows the merge
    assert MERGED_KNOWN.knows(upgrade.runner.version, ORDERS) and MERGED_KNOWN.knows(upgrade.runner.version, MERGE)


def test_an_upgrade_across_the_merge_runs_where_both_sides_are_known():
    plan = plan_deploy_migration(MERGED_KNOWN, ORDERS, "v1.3.0", "green")
    assert (plan.migration.direction, plan.migration.current, plan.migration.target) == ("upgrade", ORDERS, STATUS)
    with pytest.raises(Refused, match=r"which v1\.1\.1-customers does not know"):
        plan_deploy_migration(MERGED_KNOWN, ORDERS, "v1.1.1-customers", "green")


def test_a_rollback_below_the_merge_is_refused_and_offers_the_merge():
    state = merged_state("green", "v1.1.0", "v1.3.0")
    with pytest.raises(Refused) as refused:
        plan_rollback(state, MERGED_KNOWN, STATUS, to=None, db_rev=None)
    assert "would leave 0003_customers applied as a second head" in str(refused.value)
    assert refused.value.hint == (
        "keep the schema at 0004_merge (--db-rev 0004_merge: v1.1.0 runs on it), "
        "or --db-rev 0001_init --force (below v1.1.0's head)"
    )
    plan = plan_rollback(state, MERGED_KNOWN, STATUS, to=None, db_rev=MERGE)
    assert (plan.after_switch.target, plan.after_switch.runner.color) == (MERGE, "green")
    plan = plan_rollback(merged_state("green", "v1.2.0", "v1.3.0"), MERGED_KNOWN, STATUS, to=None, db_rev=None)
    assert (plan.after_switch.current, plan.after_switch.target) == (STATUS, MERGE)


def test_the_unknown_version_is_not_one_that_ships_no_migrations():
    with pytest.raises(Refused, match=r"the revisions v9\.0\.0 ships were not read"):
        plan_deploy_migration(MERGED_KNOWN, STATUS, "v9.0.0", "green")
    empty = Knowledge({"v0.1.0": RevisionGraph({})})
    assert "ships no migrations" in plan_deploy_migration(empty, None, "v0.1.0", "blue").note


def test_a_rollback_with_a_db_rev_on_one_side_of_the_merge_offers_revisions_that_work():
    state = merged_state("green", "v1.0.0", "v1.3.0")
    with pytest.raises(Refused) as refused:
        plan_rollback(state, MERGED_KNOWN, STATUS, to=None, db_rev=ORDERS)
    assert (
        refused.value.hint
        == "keep the schema at 0004_merge (--db-rev 0004_merge: v1.0.0 runs on it), or --db-rev 0001_init"
    )
