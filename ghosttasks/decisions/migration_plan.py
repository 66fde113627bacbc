"""The migration planner (pure): which schema revision, in which direction, from which container, when.

Inputs: the deploy state (per colour: version, failed marker), what each version knows (the graph of
alembic revisions it ships: each revision's down revisions, one head), the database's real revision, and the
request. Output: a plan or a refusal (`Refused`, one line and a hint), decided before anything changes.

Rules:
- Upgrade versus downgrade comes from ancestry in a revision graph that holds both (upgrade when the target
  descends from the current revision), never from the ids' order. Revisions on separate branches are refused.
- A downgrade must end at one head: alembic takes back only what descends from the target, so a target on one
  side of a merge would leave the other side applied as a second head; it is refused naming that side.
- Alembic runs where the code knows both the current and the target revision: the serving colour's
  container, else the idle colour's, else a one-off container of a version that does.
- Newer code never serves on an older schema: the database is never left behind the serving
  version's head (unless --force), and a version whose head is ahead of the database gets its
  upgrade before it takes traffic. Older code on a newer schema is the normal blue-green state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ghosttasks.domain.colors import COLORS, Color, other
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.revisions import Knowledge, Refused, release_key, resolve_revision

Direction = Literal["upgrade", "downgrade"]


@dataclass(frozen=True)
class Runner:
    """Where alembic runs: a colour's running api container, or a one-off container of a version."""

    version: str
    color: Color | None  # None: `compose run --rm` of that version

    def describe(self) -> str:
        where = f"{self.color}'s api container" if self.color else "a one-off api container"
        return f"{where} ({self.version})"


@dataclass(frozen=True)
class Migration:
    """One alembic run: from the database's revision to the target, with a verified backup first."""

    direction: Direction
    current: str | None
    target: str | None
    runner: Runner

    def describe(self) -> str:
        return (
            f"alembic {self.direction} {self.current or 'base'} -> {self.target or 'base'} "
            f"in {self.runner.describe()}, after a verified backup"
        )


@dataclass(frozen=True)
class SwitchPlan:
    """traffic.switch (and rollbacks): optionally upgrade first, then move traffic."""

    color: Color
    version: str
    before: Migration | None = None  # the target version's head is ahead of the database
    warning: str | None = None


@dataclass(frozen=True)
class RollbackPlan:
    """deploy.rollback: redeploy (if needed), migrate up before or down after the switch (if needed)."""

    source: Color
    source_version: str
    target: Color
    version: str
    redeploy: bool  # the target colour does not run that version yet
    switch: bool  # False: traffic is already on that version; only the schema goes back
    before_switch: Migration | None = None
    after_switch: Migration | None = None
    notes: tuple[str, ...] = ()


def choose_runner(
    state: DeployState, knowledge: Knowledge, *revisions: str | None, replaced: Color | None = None
) -> Runner | None:
    """The container whose code knows every one of `revisions`: serving colour, idle colour, then a one-off.

    `replaced`: a colour whose containers are being replaced (a redeploy) is no candidate.
    """
    candidates = [state.active, other(state.active)] if state.active else list(COLORS)
    for color in candidates:
        if color == replaced:
            continue
        version = state.colors[color].runs
        if version and all(knowledge.knows(version, revision) for revision in revisions):
            return Runner(version, color)
    for version in sorted(knowledge.graphs, key=release_key, reverse=True):
        if all(knowledge.knows(version, revision) for revision in revisions):
            return Runner(version, None)
    return None


def serving(state: DeployState) -> tuple[Color, str] | None:
    """The active colour and the version it serves (None before the first deploy)."""
    if state.active and state.colors[state.active].version:
        return state.active, state.colors[state.active].version or ""
    return None


def plan_migration(
    state: DeployState,
    knowledge: Knowledge,
    current: str | None,
    spec: str,
    *,
    requested: Direction,
    force: bool = False,
) -> Migration | None:
    """db.upgrade / db.downgrade -r SPEC: the migration to run, or None when the database is already there."""
    active = serving(state)
    target = resolve_revision(spec, current, knowledge, head_of=active[1] if active else None)
    relation = knowledge.order(target, current)
    if relation is None:
        _refuse_unordered(knowledge, current, target)
        raise Refused(
            f"no recorded version knows both the database's revision {current or 'base'} and {target or 'base'}",
            hint="deploy a version that ships both, or run alembic by hand",
        )
    if relation == 0:
        return None
    direction: Direction = "upgrade" if relation > 0 else "downgrade"
    if direction != requested:
        raise Refused(
            f"{target or 'base'} is {'ahead of' if relation > 0 else 'behind'} the database's {current or 'base'}: "
            f"that is {_article(direction)}, not {_article(requested)}",
            hint=f"inv db.{direction} -r {target or 'base'}",
        )
    if direction == "downgrade" and active and not force:
        color, version = active
        head = knowledge.head(version)
        if not knowledge.at_or_after(target, head):
            raise Refused(
                f"{target or 'base'} is below {head}, the schema {version} needs, and {version} serves on {color}: "
                f"it would run on a schema without its migrations",
                hint=_move_traffic_hint(state, knowledge, target),
            )
    if direction == "downgrade":
        _refuse_second_head(knowledge, current, target)
    runner = choose_runner(state, knowledge, current, target)
    if runner is None:
        raise Refused(f"no recorded version knows both {current or 'base'} and {target or 'base'}: nothing can run it")
    return Migration(direction, current, target, runner)


def _refuse_unordered(knowledge: Knowledge, current: str | None, target: str | None) -> None:
    """Refuse, saying so, when a version knows both revisions but neither descends from the other."""
    if knowledge.unrelated(target, current):
        raise Refused(
            f"{target or 'base'} and the database's {current or 'base'} are on separate branches: neither descends "
            "from the other, so neither an upgrade nor a downgrade reaches it",
            hint="name a revision that merges them (upgrade), or one both descend from (downgrade)",
        )


def _refuse_second_head(
    knowledge: Knowledge, current: str | None, target: str | None, *, rollback_to: str | None = None
) -> None:
    """A downgrade from `current` to `target` must leave one head: every applied revision after `target`
    descends from it (else alembic leaves the other side of a merge applied, two rows in alembic_version).
    `rollback_to`: the version a rollback goes to (the hint offers keeping a newer schema it runs on)."""
    left = knowledge.left_behind(current, target)
    if not left:
        return
    below = knowledge.single_head_below(current, target) or "base"
    hint = f"name a revision every later one descends from: {below}"
    if rollback_to:
        above = knowledge.single_head_above(current, target)
        needs = knowledge.head(rollback_to)
        below_head = below != needs and not knowledge.at_or_after(None if below == "base" else below, needs)
        hint = f"--db-rev {below} --force (below {rollback_to}'s head)" if below_head else f"--db-rev {below}"
        if above:
            hint = f"keep the schema at {above} (--db-rev {above}: {rollback_to} runs on it), or {hint}"
    raise Refused(
        f"a downgrade from {current} to {target or 'base'} would leave {', '.join(left)} applied as a second head "
        f"(alembic takes back only what descends from {target or 'base'})",
        hint=hint,
    )


def _article(direction: Direction) -> str:
    return "an upgrade" if direction == "upgrade" else "a downgrade"


def _move_traffic_hint(state: DeployState, knowledge: Knowledge, target: str | None) -> str:
    idle = other(state.active) if state.active else None
    idle_version = state.colors[idle].runs if idle else None
    if idle and idle_version and knowledge.at_or_after(target, knowledge.head(idle_version)):
        return (
            f"move traffic to {idle} ({idle_version}) first: inv deploy.rollback (it downgrades the schema too), "
            "or add --force to downgrade anyway"
        )
    older = [v for v in knowledge.graphs if knowledge.at_or_after(target, knowledge.head(v))]
    if older:
        newest = max(older, key=release_key)
        return f"roll back to a version that runs on it first: inv deploy.rollback --to {newest}, or add --force"
    return "add --force to downgrade anyway"


def plan_stamp(state: DeployState, knowledge: Knowledge, current: str | None, spec: str) -> Migration:
    """db.stamp -r SPEC: mark the database without migrating; runs in a container that knows the target."""
    active = serving(state)
    target = resolve_revision(spec, current, knowledge, head_of=active[1] if active else None)
    runner = choose_runner(state, knowledge, target)
    if runner is None:
        raise Refused(f"no recorded version knows {target or 'base'}: nothing can stamp it")
    relation = knowledge.order(target, current)
    return Migration("downgrade" if relation == -1 else "upgrade", current, target, runner)


def plan_switch(state: DeployState, knowledge: Knowledge, current: str | None, color: Color) -> SwitchPlan:
    """traffic.switch COLOR: refuse a colour with no good version; upgrade first when its head is ahead."""
    version = state.colors[color].runs
    if not version:
        failed = state.colors[color].failed_version
        raise Refused(
            f"{color} holds the failed deploy of {failed}: not switching to it"
            if failed
            else f"{color} has never been deployed: nothing to switch to",
            hint="deploy it first: inv deploy.prod --version vX.Y.Z",
        )
    before = _catch_up(state, knowledge, current, color, version)
    return SwitchPlan(color, version, before)


def _catch_up(
    state: DeployState, knowledge: Knowledge, current: str | None, color: Color, version: str
) -> Migration | None:
    """The upgrade `version` needs before it may serve (None when the schema already includes its head)."""
    head = knowledge.head(version)
    if head is None or knowledge.at_or_after(current, head):
        return None
    if not knowledge.knows(version, current):
        raise Refused(
            f"{version} needs schema {head} but the database is at {current or 'base'}, "
            f"which {version} does not know: not moving traffic to it"
        )
    return Migration("upgrade", current, head, Runner(version, color))


@dataclass(frozen=True)
class DeployMigration:
    """deploy.prod's migrate step: the upgrade to run (None: none needed) and what to tell the user;
    `database_ahead`: the schema is newer than anything the version ships (said as a warning)."""

    migration: Migration | None
    note: str
    database_ahead: bool = False


def plan_deploy_migration(knowledge: Knowledge, current: str | None, version: str, color: Color) -> DeployMigration:
    """Upgrade to the new version's head from its own container; an older version on a newer schema stays."""
    if version not in knowledge.graphs:
        raise Refused(f"the revisions {version} ships were not read: not deploying it blind")
    head = knowledge.head(version)
    if head is None:
        return DeployMigration(None, f"{version} ships no migrations: the database stays at {current or 'base'}")
    if current == head:
        return DeployMigration(None, f"database already at {head}, the head {version} ships")
    if knowledge.knows(version, current):
        migration = Migration("upgrade", current, head, Runner(version, color))
        return DeployMigration(migration, f"database at {current or 'base'}: upgrading to {head}")
    if knowledge.at_or_after(current, head):
        return DeployMigration(
            None,
            f"the database is at {current}, newer than anything {version} ships: not migrating "
            f"(older code on a backward-compatible schema; to take the schema back too, use "
            f"inv deploy.rollback --to {version})",
            database_ahead=True,
        )
    raise Refused(
        f"the database is at {current}, which {version} does not know and no recorded version orders "
        f"against its head {head}: not deploying it onto an unknown schema",
        hint="check inv db.current and inv db.history",
    )


def plan_switch_back(state: DeployState, knowledge: Knowledge, current: str | None, color: Color) -> SwitchPlan:
    """Automatic and emergency rollback: switch now, never migrate; say so loudly when the schema is behind."""
    version = state.colors[color].runs
    if not version:
        raise Refused(
            f"{color} holds no known-good version to switch back to",
            hint="switch by hand: inv traffic.switch <colour>, or deploy a known good version",
        )
    head = knowledge.head(version)
    warning = None
    if head is not None and not knowledge.at_or_after(current, head):
        warning = (
            f"{version} on {color} needs schema {head} but the database is at {current or 'base'}: "
            f"it serves on a schema without its migrations; upgrade with inv db.upgrade -r {head} once calm"
        )
    return SwitchPlan(color, version, None, warning)


def plan_rollback(
    state: DeployState,
    knowledge: Knowledge,
    current: str | None,
    *,
    to: str | None,
    db_rev: str | None,
    force: bool = False,
) -> RollbackPlan:
    """deploy.rollback [--to V] [--db-rev REV]: back to the older version, then its schema.

    Without --to, the target is the older of the two colours' versions. When traffic is already on it
    (an earlier traffic.switch), only the schema goes back. A version not yet known (never recorded)
    must be redeployed and its revisions read before this is called again with that knowledge.
    """
    active = serving(state)
    if active is None:
        raise Refused("nothing is deployed: nothing to roll back")
    source, source_version = active
    idle = other(source)
    idle_version = state.colors[idle].runs
    if to is None:
        if idle_version is None:
            raise Refused(
                f"{idle} holds no known-good version and no --to was given: no previous version known",
                hint="name the version: inv deploy.rollback --to vX.Y.Z",
            )
        older = min(source_version, idle_version, key=release_key)
        version = older
    else:
        version = to
    if version == source_version:
        return _schema_only_rollback(state, knowledge, current, source, source_version, db_rev, force)
    if version not in knowledge.graphs:
        raise Refused(f"{version}'s revisions are not known yet: redeploy it into {idle} first")
    wanted = resolve_revision(db_rev, current, knowledge, head_of=version) if db_rev else knowledge.head(version)
    notes = [f"rollback {source} {source_version} -> {idle} {version}"]
    redeploy = idle_version != version
    before, after = _rollback_migrations(state, knowledge, current, idle, version, wanted, force, redeploy)
    return RollbackPlan(
        source=source,
        source_version=source_version,
        target=idle,
        version=version,
        redeploy=redeploy,
        switch=True,
        before_switch=before,
        after_switch=after,
        notes=tuple(notes),
    )


def _rollback_migrations(
    state: DeployState,
    knowledge: Knowledge,
    current: str | None,
    color: Color,
    version: str,
    wanted: str | None,
    force: bool,
    redeploy: bool = False,
) -> tuple[Migration | None, Migration | None]:
    relation = knowledge.order(wanted, current)
    if relation is None:
        _refuse_unordered(knowledge, current, wanted)
        raise Refused(f"no recorded version knows both the database's {current or 'base'} and {wanted or 'base'}")
    head = knowledge.head(version)
    if not force and not knowledge.at_or_after(wanted, head):
        raise Refused(
            f"{wanted or 'base'} is below {head}, the schema {version} needs: it would serve on a schema "
            "without its migrations",
            hint="choose --db-rev at or above its head, or add --force",
        )
    if relation == 0:
        return None, None
    if relation > 0:  # the database is behind the version: expand before it takes traffic
        if knowledge.knows(version, current) and knowledge.knows(version, wanted):
            return Migration("upgrade", current, wanted, Runner(version, color)), None
        runner = choose_runner(state, knowledge, current, wanted, replaced=color if redeploy else None)
        if runner is None:
            raise Refused(f"no recorded version knows both {current or 'base'} and {wanted or 'base'}: cannot upgrade")
        return Migration("upgrade", current, wanted, runner), None
    _refuse_second_head(knowledge, current, wanted, rollback_to=version)
    runner = choose_runner(state, knowledge, current, wanted, replaced=color if redeploy else None)
    if runner is None:
        raise Refused(
            f"no recorded version knows both the database's {current or 'base'} and {wanted or 'base'}: "
            "the schema cannot be taken back"
        )
    return None, Migration("downgrade", current, wanted, runner)


def _schema_only_rollback(
    state: DeployState,
    knowledge: Knowledge,
    current: str | None,
    color: Color,
    version: str,
    db_rev: str | None,
    force: bool,
) -> RollbackPlan:
    wanted = resolve_revision(db_rev, current, knowledge, head_of=version) if db_rev else knowledge.head(version)
    if wanted is None and db_rev is None:
        raise Refused(f"{version} is already serving on {color} and its schema head is not known")
    if knowledge.order(wanted, current) != -1:
        raise Refused(
            f"{version} is already serving on {color} and the database ({current or 'base'}) is not ahead of "
            f"{wanted or 'base'}: nothing to roll back"
        )
    _, after = _rollback_migrations(state, knowledge, current, color, version, wanted, force)
    return RollbackPlan(
        source=color,
        source_version=version,
        target=color,
        version=version,
        redeploy=False,
        switch=False,
        after_switch=after,
        notes=(f"traffic is already on {color} ({version}): only the schema goes back",),
    )
