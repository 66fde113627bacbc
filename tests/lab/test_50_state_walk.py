"""A seeded walk over the incident commands, guided to what it has not yet run, with the invariants checked against
reality after every step.

The walk starts from v1.1.0 serving with the other colour holding v1.0.0 (tests/lab/world.py: bring_to). Each step is
one of issue 9's commands (tests/lab/walk_model.py: ACTIONS): deploys of good and fault releases, traffic switches,
rollbacks, alembic downgrades and upgrades, db.current, and the emergency rollback with its unlock. The next step is
chosen from the state reality is in (walk_model.choose): a command that has not run yet, else one that has not run
from this kind of state (how the idle colour's version stands to the serving one's, where the schema is against the
serving head), the cheapest first, ties and arguments drawn with random.Random(GHOST_WALK_SEED). So every command
runs in the first steps, and the rest of the time budget goes to (kind of state, command) pairs not yet seen; the
pure state space is covered by the unit tests (tests/unit/test_migration_plan.py), the walk proves that reality
does what the model says. A seed gives the same steps as long as the commands do the same.

After every command the world is read directly, never through ghosttasks: 20 requests through the LB on new
connections, `alembic_version` with psql in the PostgreSQL container, state.json and the lock directory on disk
(the lab's LB host is this machine). The rules (tests/lab/walk_model.py): (i) the LB answers only from one
healthy colour; (ii) the schema is a known revision, never behind the serving version's head; (iii) state.json
agrees with the LB and the database; (iv) a failed command changed neither; (v) no lock is left held; (vi) what
must work on a healthy lab works; (vii) a command that exited 0 did what it is for (GHOST_WALK_EFFECTS=0: off).
Every break is collected; one assertion at the end lists them all, and the walk fails when a command never ran.
The walk cleans up with the runbook's own commands (the fewest switches and deploys, then the schema), each checked
like a step: the lab is left as the walk found it (v1.1.0 serving from either colour, v1.0.0 idle, unlocked).

Replay a run: GHOST_WALK_SEED=<seed> python3 -m pytest tests/lab/test_50_state_walk.py -s
(GHOST_WALK_BUDGET: seconds for the walk and its clean-up, default 60: once every command has run, the walk stops
before a step that would not leave time for the clean-up; GHOST_WALK_STEPS: at most this many steps, default 40.
A long exploration by hand: GHOST_WALK_BUDGET=1800 GHOST_WALK_STEPS=200.)
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.lab.conftest import ROOT
from tests.lab.walk_model import (
    ACTIONS,
    COLORS,
    HOME_IDLE,
    HOME_REVISION,
    HOME_SERVING,
    Answer,
    Coverage,
    Reality,
    Step,
    check_effect,
    check_reality,
    check_unchanged,
    choose,
    expected_exit,
    kind,
    runs,
    satisfies,
    summarize_lb,
)
from tests.lab.world import LB_HEALTH, Start, bring_to, psql, start_commands

SEED = int(os.environ.get("GHOST_WALK_SEED") or 533)
STEPS = int(os.environ.get("GHOST_WALK_STEPS") or 40)
BUDGET = float(os.environ.get("GHOST_WALK_BUDGET") or 60)
EFFECTS = os.environ.get("GHOST_WALK_EFFECTS", "1") != "0"
COMMAND_TIMEOUT = 300
LB_SAMPLES = 20
SETTLE_SECONDS = 5  # nginx reloads asynchronously: a reading that is not one colour is taken again for this long
TAIL_LINES = 12
HOME = Start(HOME_SERVING, HOME_IDLE, color=None)
#: seconds of the clean-up's commands (with the reading after each), for the time budget
CLEAN_UP_SECONDS = {"deploy": 15.0, "switch": 4.0, "schema": 3.0}
REPLAY = (
    f"GHOST_WALK_SEED={SEED} GHOST_WALK_STEPS={STEPS} GHOST_WALK_BUDGET={BUDGET:g} "
    "python3 -m pytest tests/lab/test_50_state_walk.py -s"
)


# -- reading reality ----------------------------------------------------------------------------------------


def sample_lb() -> tuple[tuple[str, str] | None, str]:
    """LB_SAMPLES requests through the LB on new connections, again for up to SETTLE_SECONDS until consistent."""
    deadline = time.monotonic() + SETTLE_SECONDS
    rounds = 0
    with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while True:
            rounds += 1
            lb, detail = summarize_lb([_ask(client) for _ in range(LB_SAMPLES)])
            if lb is not None or time.monotonic() >= deadline:
                return lb, detail + (f" (reading {rounds})" if rounds > 1 else "")
            time.sleep(0.2)


def _ask(client: httpx.Client) -> Answer:
    try:
        response = client.get(LB_HEALTH)
    except httpx.HTTPError as exc:
        return Answer(None, error=type(exc).__name__)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Answer(response.status_code, health="not JSON")
    return Answer(response.status_code, body.get("color"), body.get("version"), body.get("status"))


def read_revision(lab) -> tuple[str | None, str | None]:
    """(alembic_version.version_num or None when empty, error) read with psql in the PostgreSQL container."""
    try:
        text = psql(lab, "SELECT version_num FROM alembic_version")
    except (AssertionError, OSError, subprocess.SubprocessError) as exc:
        return None, " ".join(str(exc).split())[:200] or type(exc).__name__
    rows = text.split()
    if len(rows) > 1:
        return None, f"alembic_version has {len(rows)} rows: {', '.join(rows)}"
    return (rows[0] if rows else None), None


def read_state(path: Path) -> tuple[dict | None, str | None]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return (data, None) if isinstance(data, dict) else (None, f"not a JSON object: {data!r:.80}")


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


# -- the walk -----------------------------------------------------------------------------------------------


@dataclass
class Break:
    label: str
    command: str
    exit_code: int | None
    problems: list[str]
    before: Reality | None
    after: Reality | None
    tail: str

    def render(self) -> str:
        lines = [f"step {self.label}: {self.command} -> {self.exit_code}"]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.before:
            lines.append(f"  reality before: {self.before.describe()}")
        if self.after:
            lines.append(f"  reality after:  {self.after.describe()}")
        if self.tail:
            lines.append(f"  output (last {TAIL_LINES} lines):")
            lines += [f"    | {line}" for line in self.tail.splitlines()]
        return "\n".join(lines)


class Walk:
    def __init__(self, lab, inv) -> None:
        self.lab, self.inv = lab, inv
        inventory = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
        self.env_args: tuple[str, ...] = () if inventory["default_env"] == "prod" else ("--env", "prod")
        self.state_dir = Path(inventory["environments"]["prod"]["lb"]["state_dir"])
        self.breaks: list[Break] = []
        self.since: dict[str, str] = {}  # a reality problem -> the step it was first seen after
        self.aborted: str | None = None
        self.reality = self.read()

    def read(self) -> Reality:
        lb, detail = sample_lb()
        db, db_error = read_revision(self.lab)
        state, state_error = read_state(self.state_dir / "state.json")
        return Reality(lb, detail, db, db_error, state, state_error, (self.state_dir / "lock").exists())

    def command(self, argv: tuple[str, ...]) -> tuple[int | None, str, float]:
        started = time.monotonic()
        try:
            result = self.inv(*argv, timeout=COMMAND_TIMEOUT)
            code, text = result.returncode, result.stdout + "\n" + result.stderr
        except subprocess.TimeoutExpired as exc:
            code, text = None, _text(exc.stdout) + "\n" + _text(exc.stderr)
        tail = "\n".join([line for line in text.splitlines() if line.strip()][-TAIL_LINES:])
        return code, tail, time.monotonic() - started

    def run_step(self, label: str, step: Step) -> list[int | None]:
        """Run the step's commands, reading and checking reality after each; returns their exit codes."""
        commands = step.commands(self.env_args)
        before, codes = self.reality, []
        for index, argv in enumerate(commands):
            sub = label if len(commands) == 1 else f"{label}{'ab'[index]}"
            frozen_before = step.kind == "emergency" and index == 1  # between the emergency rollback and its unlock
            healthy = not check_reality(before, lock_allowed=frozen_before)
            code, tail, seconds = self.command(argv)
            reading = time.monotonic()
            after = self.read()
            reading = time.monotonic() - reading
            problems = self._annotate(sub, check_reality(after, lock_allowed=step.kind == "emergency" and index == 0))
            if code is None:
                problems.append(f"(bound) inv {argv[0]} was stopped after its {COMMAND_TIMEOUT} s timeout")
            problems += check_unchanged(argv[0], code, before, after)
            rule = expected_exit(step, index, before) if healthy else None
            if rule and (code == 0) != rule[0]:
                problems.append(f"(vi) expected exit {'0' if rule[0] else 'non-zero'} ({rule[1]}), got {code}")
            if EFFECTS:
                problems += check_effect(step, index, code, before, after)
            shown = "inv " + " ".join(argv)
            print(
                f"step {sub}: {shown} -> {code} ({seconds:.1f} s, read {reading:.1f} s); {after.describe()}", flush=True
            )
            for problem in problems:
                print(f"    BREAK {problem}", flush=True)
            if problems:
                fresh = any("[still broken since" not in problem for problem in problems)
                self.breaks.append(Break(sub, shown, code, problems, before, after, tail if fresh else ""))
            before = after
            codes.append(code)
        self.reality = before
        if before.lock_held:
            self._recover(label)
        return codes

    def _annotate(self, label: str, problems: list[str]) -> list[str]:
        """Mark reality problems already seen after the previous command (so new ones stand out)."""
        marked = [f"{p} [still broken since step {self.since[p]}]" if p in self.since else p for p in problems]
        self.since = {p: self.since.get(p, label) for p in problems}
        return marked

    def _recover(self, label: str) -> None:
        """A lock left held (already reported) would refuse every later step: release it to keep walking."""
        print(f"recovery after step {label}: inv deploy.unlock --force", flush=True)
        self.command(("deploy.unlock", "--force", *self.env_args))
        self.reality = self.read()
        if self.reality.lock_held:
            self.aborted = f"the deploy lock is still held after step {label} and a forced unlock"

    def home_steps(self) -> list[Step]:
        """The fewest steps from reality to HOME (world.start_commands: a switch where a colour already holds its
        version, else a deploy into the idle colour), then the schema to v1.1.0's head."""
        state = self.reality.state or {}
        active = self.reality.lb[0] if self.reality.lb else state.get("active")
        holds = {color: runs(state, color) for color in COLORS}
        plans = [start_commands(active, holds, HOME_SERVING, HOME_IDLE, color) for color in COLORS]
        steps = [
            Step("switch", argv[1]) if argv[0] == "traffic.switch" else Step("deploy", argv[2])
            for argv in min(plans, key=len)
        ]
        if self.reality.db != HOME_REVISION:  # (clean_up asks again after each step: a switch to v1.1.0 upgrades)
            steps.append(Step("downgrade" if satisfies(self.reality.db, HOME_REVISION) else "upgrade", HOME_REVISION))
        return steps

    def home_seconds(self) -> float:
        return sum(
            CLEAN_UP_SECONDS["schema" if step.kind in ("downgrade", "upgrade") else step.kind]
            for step in self.home_steps()
        )

    def clean_up(self) -> None:
        """Bring the lab back to HOME (v1.1.0 serving, v1.0.0 idle, the schema at 0003c3d4e5f6, unlocked) with the
        runbook's own commands, each checked like a step; the schema last, once v1.1.0 serves."""
        if self.reality.lock_held:
            self.run_step("t0", Step("unlock"))
        for number in range(1, 6):
            steps = self.home_steps()
            if not steps:
                return
            if self.run_step(f"t{number}", steps[0])[-1] != 0:
                break
        problem = f"could not bring the lab to {HOME_SERVING} serving, {HOME_IDLE} idle at {HOME_REVISION}: "
        self.breaks.append(Break("t", "clean-up", None, [problem + self.reality.describe()], None, None, ""))

    def walk(self, seed: int) -> Coverage:
        """Guided steps (walk_model.choose) until every command ran, then while the budget leaves time for the
        clean-up; returns what ran from which kind of state."""
        print(f"the lab starts at: {self.reality.describe()}", flush=True)
        for problem in check_reality(self.reality):
            print(f"    (before the walk, not counted) {problem}", flush=True)
        rng, coverage, started = random.Random(seed), Coverage(), time.monotonic()
        for number in range(1, STEPS + 1):
            action, step = choose(rng, self.reality, coverage)
            used = time.monotonic() - started
            if not coverage.missing() and used + action.seconds + self.home_seconds() > BUDGET:
                print(f"time budget: stopping before step {number} ({used:.0f} s of {BUDGET:.0f} s used)", flush=True)
                break
            where = kind(self.reality)
            print(f"step {number} ({action.name}, from: {where})", flush=True)
            self.run_step(str(number), step)
            coverage.record(where, action)
            if self.aborted:
                self.breaks.append(Break(str(number), "walk aborted", None, [self.aborted], None, self.reality, ""))
                break
        print(f"walk done in {time.monotonic() - started:.0f} s; {coverage.table()}", flush=True)
        return coverage

    def teardown(self) -> None:
        """Leave the lab unlocked with green serving v1.1.0 and blue holding v1.0.0, for the tests after this."""
        try:
            self.clean_up()
        except Exception as exc:
            self.breaks.append(Break("teardown", "teardown", None, [f"{type(exc).__name__}: {exc}"], None, None, ""))
            raise


@pytest.mark.timeout(int(BUDGET) + 900)
def test_guided_walk_keeps_every_invariant(lab, inv):
    print(f"state walk: seed {SEED}, at most {STEPS} steps, budget {BUDGET:.0f} s; replay: {REPLAY}", flush=True)
    bring_to(lab, inv, HOME)
    walk = Walk(lab, inv)
    try:
        coverage = walk.walk(SEED)
    finally:
        walk.teardown()
    summary = f"{len(walk.breaks)} step(s) broke an invariant (seed {SEED}; replay: {REPLAY}):\n\n"
    assert not walk.breaks, summary + "\n\n".join(item.render() for item in walk.breaks)
    missing = ", ".join(coverage.missing())
    assert not missing, f"commands the walk never ran in {STEPS} steps (one each takes {len(ACTIONS)}): {missing}"
