"""The pure half of the state walk (tests/lab/test_50_state_walk.py): no lab, no network, importable anywhere.

The revision graph of the lab origin, the guided choice of the next step (every command once, then the (kind of
state, command) pairs not yet run, drawn with a seeded random.Random), what a reading of reality is, and the rules
every reading and every command must keep: (i) the LB answers from one healthy colour, (ii) the schema is
a known revision never behind the serving version's head, (iii) state.json agrees with the LB and the
database, (iv) a failed command changed nothing, (v) no lock is left held, (vi) what must simply work on a
healthy lab does, (vii) a command that exited 0 did what it is for. Unit tests: tests/unit/test_walk_model.py.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ghosttasks.domain.revisions import release_key
from lab.releases import ALEMBIC_HEADS

#: revision -> the revision it revises, for every migration the lab origin's tags ship.
#: 0004d4e5f6a7 (v1.2.0-badmigration) branches off 0003c3d4e5f6 and never applies; 0005e5f6a7b8 revises 0003.
REVISION_PARENTS: dict[str, str | None] = {
    "0001a1b2c3d4": None,
    "0002b2c3d4e5": "0001a1b2c3d4",
    "0003c3d4e5f6": "0002b2c3d4e5",
    "0004d4e5f6a7": "0003c3d4e5f6",
    "0005e5f6a7b8": "0003c3d4e5f6",
}
#: the good chain, oldest first: the only revisions the database may ever be at.
GOOD_CHAIN = ("0001a1b2c3d4", "0002b2c3d4e5", "0003c3d4e5f6", "0005e5f6a7b8")
KNOWN_REVISIONS = frozenset(GOOD_CHAIN)

GOOD_VERSIONS = ("v1.0.0", "v1.1.0", "v1.3.0")
UNHEALTHY = "v1.2.0-unhealthy"
BADMIGRATION = "v1.2.0-badmigration"
FAULT_VERSIONS = (UNHEALTHY, BADMIGRATION)
COLORS = ("blue", "green")
UNHEALTHY_DEADLINE = 5  # seconds: --health-timeout of the unhealthy release's deploy

#: the state the walk starts from and the lab is left in: v1.1.0 serves (from either colour), the other colour holds
#: v1.0.0 idle, the schema at v1.1.0's head (the start of most lab modules: world.bring_to).
HOME_SERVING, HOME_IDLE = "v1.1.0", "v1.0.0"
HOME_REVISION = ALEMBIC_HEADS[HOME_SERVING]


# -- the revision graph -------------------------------------------------------------------------------------


def ancestry(revision: str | None) -> tuple[str, ...]:
    """`revision` and every revision below it, newest first; () for an empty or unknown revision."""
    chain: list[str] = []
    while revision is not None and revision in REVISION_PARENTS and revision not in chain:
        chain.append(revision)
        revision = REVISION_PARENTS[revision]
    return tuple(chain)


def satisfies(db_revision: str | None, head: str) -> bool:
    """A database at `db_revision` has every migration up to `head` applied (code of that head may run on it)."""
    return head in ancestry(db_revision)


def moved_forward(old: str | None, new: str | None) -> bool:
    """`new` is strictly above `old` in the graph (only upgrades happened)."""
    return new is not None and new != old and (old is None or old in ancestry(new))


def parent(revision: str | None) -> str | None:
    return REVISION_PARENTS.get(revision) if revision else None


def head_of(version: str | None) -> str | None:
    """The alembic head the lab origin's tag `version` ships (lab/releases.py), None for an unknown version."""
    return ALEMBIC_HEADS.get(version) if version else None


def other(color: str) -> str:
    return "green" if color == "blue" else "blue"


# -- the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the walk: a command (or the emergency rollback + unlock pair) with its argument."""

    kind: str  # deploy | switch | rollback | downgrade | upgrade | current | emergency | unlock
    arg: str | None = None
    db_rev: str | None = None  # rollback only: --db-rev (the walk's own set-up and clean-up use it)

    def commands(self, env_args: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """The `inv` argument lists this step runs, in order (two for the emergency step)."""
        if self.kind == "deploy":
            argv: tuple[str, ...] = ("deploy.prod", "--version", str(self.arg), "--yes", "--monitor-minutes", "0")
            if self.arg == UNHEALTHY:  # never healthy: a short deadline proves the refusal as well as a long one
                argv += ("--health-timeout", str(UNHEALTHY_DEADLINE))
            commands = [argv]
        elif self.kind == "switch":
            commands = [("traffic.switch", str(self.arg), "--yes")]
        elif self.kind == "rollback":
            argv = ("deploy.rollback", "--to", self.arg) if self.arg else ("deploy.rollback",)
            commands = [(*argv, *(("--db-rev", self.db_rev) if self.db_rev else ()), "--yes")]
        elif self.kind == "downgrade":
            commands = [("db.downgrade", "-r", str(self.arg), "--yes")]
        elif self.kind == "upgrade":
            commands = [("db.upgrade", "-r", self.arg, "--yes") if self.arg != "head" else ("db.upgrade", "--yes")]
        elif self.kind == "current":
            commands = [("db.current",)]
        elif self.kind == "emergency":
            commands = [("deploy.emergency-rollback", "--reason", "walk"), ("deploy.unlock", "--force")]
        elif self.kind == "unlock":
            commands = [("deploy.unlock", "--force")]
        else:
            raise ValueError(f"unknown step kind {self.kind!r}")
        return [(*argv, *env_args) for argv in commands]

    def __str__(self) -> str:
        return " ; ".join("inv " + " ".join(argv) for argv in self.commands())


@dataclass(frozen=True)
class Action:
    """A command of the walk (issue 9's list) as one kind: the seconds it takes on the lab with the reading after it
    (generous, docs/performance.md), and how a Step is drawn for it from the LB's (colour, version)."""

    name: str
    seconds: float
    draw: Callable[[random.Random, tuple[str, str] | None], Step]


def _switch(to_serving: bool) -> Callable[[random.Random, tuple[str, str] | None], Step]:
    def draw(rng: random.Random, lb: tuple[str, str] | None) -> Step:
        if lb is None:
            return Step("switch", rng.choice(COLORS))
        return Step("switch", lb[0] if to_serving else other(lb[0]))

    return draw


def _good_deploy(rng: random.Random, lb: tuple[str, str] | None) -> Step:
    """The home version that is not serving (the colours then hold both, and going home is at most a switch);
    any good release when neither serves."""
    homes = (HOME_SERVING, HOME_IDLE)
    if lb is not None and lb[1] in homes:
        return Step("deploy", homes[1 - homes.index(lb[1])])
    return Step("deploy", rng.choice(GOOD_VERSIONS))


#: cheapest first among the commands not yet run: so the two drills (each leaves the idle colour failed) come before
#: the good deploy, which takes that colour back.
ACTIONS: tuple[Action, ...] = (
    Action("db.current", 2, lambda rng, lb: Step("current")),
    Action("db.downgrade -r -1", 3, lambda rng, lb: Step("downgrade", "-1")),
    Action("db.downgrade -r REV", 3, lambda rng, lb: Step("downgrade", rng.choice(GOOD_CHAIN))),
    Action("db.upgrade", 3, lambda rng, lb: Step("upgrade", "head")),
    Action("db.upgrade -r REV", 3, lambda rng, lb: Step("upgrade", rng.choice(GOOD_CHAIN))),
    Action("traffic.switch to the serving colour", 3, _switch(to_serving=True)),
    Action("traffic.switch to the idle colour", 4, _switch(to_serving=False)),
    Action("deploy.emergency-rollback + unlock", 6, lambda rng, lb: Step("emergency")),
    Action("deploy.rollback", 7, lambda rng, lb: Step("rollback")),
    Action("deploy.rollback --to", 10, lambda rng, lb: Step("rollback", rng.choice(GOOD_VERSIONS))),
    Action("deploy.prod of a good release", 16, _good_deploy),
    Action("deploy.prod of the unhealthy drill", 10 + UNHEALTHY_DEADLINE, lambda rng, lb: Step("deploy", UNHEALTHY)),
    Action("deploy.prod of the bad-migration drill", 14, lambda rng, lb: Step("deploy", BADMIGRATION)),
)


def kind(reality: Reality) -> str:
    """The kind of state a command meets, as the migration planner tells states apart: how the idle colour's
    version stands to the serving one's, and where the schema is against the serving version's head."""
    if reality.lb is None or reality.state is None or reality.db_error:
        return "unsettled (no one healthy colour, no state.json or no revision)"
    color, version = reality.lb
    entry = ((reality.state.get("colors") or {}).get(other(color))) or {}
    idle = entry.get("version")
    if entry.get("failed_version"):
        standing = "idle colour failed"
    elif not idle:
        standing = "idle colour empty"
    elif idle == version:
        standing = "idle colour on the same version"
    else:
        standing = "idle colour older" if release_key(idle) < release_key(version) else "idle colour newer"
    head = head_of(version)
    if reality.db == head:
        schema = "at the serving head"
    else:
        schema = "ahead of the serving head" if head and satisfies(reality.db, head) else "behind the serving head"
    return f"{standing}, schema {schema}"


@dataclass
class Coverage:
    """Which actions ran, and from which kinds of state."""

    pairs: dict[tuple[str, str], int] = field(default_factory=dict)

    def record(self, where: str, action: Action) -> None:
        self.pairs[(where, action.name)] = self.pairs.get((where, action.name), 0) + 1

    def ran(self, action: Action) -> bool:
        return any(name == action.name for _, name in self.pairs)

    def missing(self) -> list[str]:
        """The actions that never ran."""
        return [action.name for action in ACTIONS if not self.ran(action)]

    def table(self) -> str:
        kinds = sorted({where for where, _ in self.pairs})
        lines = [f"{len(self.pairs)} (kind of state, command) pairs over {len(kinds)} kinds of state:"]
        for where in kinds:
            names = [f"{name} x{n}" if n > 1 else name for (w, name), n in self.pairs.items() if w == where]
            lines.append(f"  {where}: {', '.join(names)}")
        return "\n".join(lines)


def choose(rng: random.Random, reality: Reality, coverage: Coverage) -> tuple[Action, Step]:
    """The next step: an action that never ran, else one never run from this kind of state, else any (a seeded
    draw); the cheapest first among equals, then the draw. Never a step skip_reason forbids."""
    where = kind(reality)
    candidates = []
    for action in ACTIONS:
        step = action.draw(rng, reality.lb)
        if skip_reason(step, reality) is None:
            novelty = (0 if coverage.ran(action) else 2) + (0 if (where, action.name) in coverage.pairs else 1)
            candidates.append((novelty, action, step))
    best = max(novelty for novelty, _, _ in candidates)
    if best == 0:
        _, action, step = rng.choice(candidates)
        return action, step
    cheapest = min(action.seconds for novelty, action, _ in candidates if novelty == best)
    _, action, step = rng.choice([item for item in candidates if item[0] == best and item[1].seconds == cheapest])
    return action, step


# -- readings of reality ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request through the LB: HTTP status and the body's colour, version and status (or the error)."""

    status: int | None
    color: str | None = None
    version: str | None = None
    health: str | None = None
    error: str | None = None


def summarize_lb(answers: list[Answer]) -> tuple[tuple[str, str] | None, str]:
    """(colour, version) when every answer is a healthy 200 from that one pair, else None; and a summary."""
    counts = Counter(
        (a.error, None, None, None) if a.error else (str(a.status), a.color, a.version, a.health) for a in answers
    )
    detail = ", ".join(
        f"{n}x {what}" + (f" {color} {version}" if color or version else "") + (f" ({h})" if h and h != "ok" else "")
        for (what, color, version, h), n in counts.most_common()
    )
    healthy = {(a.color, a.version) for a in answers if a.error is None and a.status == 200 and a.health == "ok"}
    all_healthy = answers and all(a.error is None and a.status == 200 and a.health == "ok" for a in answers)
    if all_healthy and len(healthy) == 1:
        color, version = next(iter(healthy))
        if color in COLORS and version:
            return (color, version), detail
    return None, detail or "no answers"


@dataclass(frozen=True)
class Reality:
    """What the world looks like, read directly: the LB, PostgreSQL, state.json on disk, the lock directory."""

    lb: tuple[str, str] | None  # the one healthy (colour, version) that answers through the LB
    lb_detail: str
    db: str | None  # alembic_version.version_num; None: empty table or unreadable (then db_error)
    db_error: str | None
    state: dict | None  # state.json as parsed; None: no file or unreadable (then state_error)
    state_error: str | None
    lock_held: bool

    def describe(self) -> str:
        lb = f"{self.lb[0]} {self.lb[1]}" if self.lb else "NOT ONE HEALTHY COLOUR"
        db = (self.db_error and f"unreadable ({self.db_error})") or self.db or "empty"
        return (
            f"LB {lb} [{self.lb_detail}]; db {db}; state {describe_state(self.state, self.state_error)}; "
            f"lock {'HELD' if self.lock_held else 'free'}"
        )


def describe_state(state: dict | None, error: str | None = None) -> str:
    if error:
        return f"unreadable ({error})"
    if state is None:
        return "absent"
    colors = state.get("colors") or {}
    parts = []
    for color in COLORS:
        entry = colors.get(color) or {}
        failed = f" failed {entry['failed_version']}" if entry.get("failed_version") else ""
        parts.append(f"{color} {entry.get('version')}{failed}")
    extra = f", database_revision {state['database_revision']}" if "database_revision" in state else ""
    return f"active {state.get('active')} ({', '.join(parts)}{extra})"


def runs(state: dict | None, color: str) -> str | None:
    """The known-good version state.json says `color` runs (None when empty or holding a failed deploy)."""
    entry = ((state or {}).get("colors") or {}).get(color) or {}
    return None if entry.get("failed_version") else entry.get("version")


def skip_reason(step: Step, reality: Reality) -> str | None:
    """Why the walk must not run `step` now (it would wreck the lab for every later step and test), or None.

    `db.downgrade -r -1` at 0001a1b2c3d4 takes the database to base: the seeded tenants and users go, every
    smoke test (so every deploy) fails from then on. That state is already a break of (ii) before the step.
    """
    if step.kind == "downgrade" and step.arg == "-1" and reality.db == GOOD_CHAIN[0]:
        return f"db.downgrade -r -1 at {GOOD_CHAIN[0]} would drop the seeded users (base)"
    return None


# -- the invariants -----------------------------------------------------------------------------------------


def check_reality(reality: Reality, *, lock_allowed: bool = False) -> list[str]:
    """Invariants (i), (ii), (iii) and (v) on one reading."""
    problems = []
    lb, db = reality.lb, reality.db
    if lb is None:
        problems.append(f"(i) the LB does not answer only from one healthy colour: {reality.lb_detail}")
    if reality.db_error:
        problems.append(f"(ii) the database revision could not be read: {reality.db_error}")
    elif db is None:
        problems.append("(ii) alembic_version is empty: the database is at base")
    elif db not in KNOWN_REVISIONS:
        problems.append(f"(ii) the database is at {db}, not one of the known revisions {', '.join(GOOD_CHAIN)}")
    if lb is not None and not reality.db_error:
        head = head_of(lb[1])
        if head is None:
            problems.append(f"(ii) the LB serves {lb[1]}, which is no release of the lab origin")
        elif not satisfies(db, head):
            problems.append(
                f"(ii) the database is at {db or 'base'}, behind {head}, the head of the serving {lb[1]}: "
                "newer code runs on an older schema"
            )
    problems += _check_state(reality)
    if reality.lock_held and not lock_allowed:
        problems.append("(v) the deploy lock is left held (<state_dir>/lock exists)")
    return problems


def _check_state(reality: Reality) -> list[str]:
    state, lb = reality.state, reality.lb
    if reality.state_error:
        return [f"(iii) state.json is unreadable: {reality.state_error}"]
    if state is None:
        return ["(iii) there is no state.json"]
    problems = []
    active = state.get("active")
    if lb is not None:
        if active != lb[0]:
            problems.append(f"(iii) state.json says {active} is active, the LB answers from {lb[0]}")
        else:
            recorded = ((state.get("colors") or {}).get(active) or {}).get("version")
            if recorded != lb[1]:
                problems.append(f"(iii) state.json says {active} runs {recorded}, the LB answers {lb[1]}")
    if "database_revision" in state and not reality.db_error and state["database_revision"] != reality.db:
        problems.append(
            f"(iii) state.json says database_revision {state['database_revision']}, the database is at {reality.db}"
        )
    return problems


def check_unchanged(task: str, exit_code: int | None, before: Reality, after: Reality) -> list[str]:
    """Invariant (iv): a command that exited non-zero (or a read, whatever its exit) changed neither the LB
    nor the schema; a failed deploy.prod may only have moved the schema forward."""
    read_only = task == "db.current"
    if exit_code == 0 and not read_only:
        return []
    why = "is a read" if read_only else f"exited {exit_code if exit_code is not None else 'on its timeout'}"
    problems = []
    if before.lb is not None and after.lb != before.lb:
        now = f"{after.lb[0]} {after.lb[1]}" if after.lb else after.lb_detail
        problems.append(f"(iv) {task} {why} but the LB moved from {before.lb[0]} {before.lb[1]} to {now}")
    if not (before.db_error or after.db_error) and after.db != before.db:
        forward_ok = task == "deploy.prod" and exit_code != 0 and moved_forward(before.db, after.db)
        if not forward_ok:
            direction = "forward" if moved_forward(before.db, after.db) else "backward (or sideways)"
            problems.append(f"(iv) {task} {why} but the database moved {direction} from {before.db} to {after.db}")
    return problems


def expected_exit(step: Step, index: int, before: Reality) -> tuple[bool, str] | None:
    """Invariant (vi): (exit must be 0?, why) for a command on a healthy lab, None when no rule applies.

    index: which of the step's commands (1 is the unlock of the emergency step).
    """
    if step.kind == "emergency":
        return (True, "deploy.unlock --force releases any lock") if index == 1 else None
    if step.kind == "unlock":
        return True, "deploy.unlock --force releases any lock"
    if step.kind == "current":
        return True, "db.current is a read on a healthy lab"
    if step.kind == "deploy":
        if step.arg in GOOD_VERSIONS:
            return True, f"{step.arg} is a good release"
        return False, f"{step.arg} is a fault drill that must never go live"
    if step.kind == "switch" and before.state is not None:
        entry = ((before.state.get("colors") or {}).get(step.arg) or {}) if step.arg else {}
        if entry.get("failed_version"):
            return False, f"{step.arg} holds the failed deploy of {entry['failed_version']}"
        version = entry.get("version")
        head = head_of(version)
        if version in GOOD_VERSIONS and head and satisfies(before.db, head):
            return True, f"{step.arg} holds the good {version} and the schema ({before.db}) is not behind {head}"
    return None


def check_effect(step: Step, index: int, exit_code: int | None, before: Reality, after: Reality) -> list[str]:
    """Invariant (vii): a command that exited 0 did what it is for, as seen in reality."""
    if exit_code != 0:
        return []
    task = step.commands()[index][0]
    problems = []

    def lb_should_be(color: str | None, version: str | None, what: str) -> None:
        want = (color, version) if version else None
        got = after.lb
        if got is None or got[0] != color or (want and got != want):
            shown = f"{got[0]} {got[1]}" if got else after.lb_detail
            problems.append(f"(vii) {task} exited 0 but the LB answers {shown}, not {color} {version or ''}{what}")

    def db_should_be(revision: str | None, what: str) -> None:
        if not after.db_error and revision and after.db != revision:
            problems.append(f"(vii) {task} exited 0 but the database is at {after.db}, not {revision}{what}")

    idle = other(before.lb[0]) if before.lb else other(before.state["active"]) if before.state else "blue"
    if step.kind == "deploy":
        lb_should_be(idle, step.arg, " (the idle colour)")
    elif step.kind == "switch":
        lb_should_be(step.arg, runs(before.state, str(step.arg)), "")
    elif step.kind == "rollback":
        serving_version = before.lb[1] if before.lb else None
        candidates = [v for v in (serving_version, runs(before.state, idle)) if v]
        version = step.arg or min(candidates, key=release_key)  # default: the older of the two colours
        if before.lb and version == serving_version:  # traffic is already there: only the schema goes back
            lb_should_be(before.lb[0], version, " (already serving: schema only)")
        else:
            lb_should_be(idle, version, " (the other colour)")
        if step.db_rev:
            db_should_be(step.db_rev, " (--db-rev)")
        else:
            db_should_be(head_of(version), f", the head {version} ships")
    elif step.kind == "emergency" and index == 0:
        lb_should_be(idle, runs(before.state, idle), " (the previous colour)")
        if not after.lock_held:
            problems.append("(vii) deploy.emergency-rollback exited 0 but left no freeze lock")
    elif step.kind in ("downgrade", "upgrade", "current"):
        if before.lb is not None and after.lb != before.lb:
            problems.append(f"(vii) {task} exited 0 and moved the LB from {before.lb} to {after.lb or after.lb_detail}")
        if before.db_error or after.db_error:
            return problems
        if step.kind == "downgrade":
            db_should_be(parent(before.db) if step.arg == "-1" else step.arg, "")
        elif step.kind == "upgrade":
            target = head_of(before.lb[1]) if step.arg == "head" and before.lb else step.arg
            noop = target is not None and after.db == before.db and satisfies(before.db, target)
            if not noop:
                db_should_be(target, "")
    return problems
