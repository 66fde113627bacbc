"""The crash walk: a changing command killed with SIGKILL at a step boundary (or inside a long step), then what a
user runs next (`deploy.unlock --force`, then `deploy.prod` or `deploy.rollback`) under client load, checked against
reality.

The module starts from one colour serving v1.1.0 and the other holding v1.0.0 (world.bring_to, once). Each case then
starts from where the case before it left the lab, when that fits its flow: the two colours hold v1.1.0 and v1.0.0
(either serving, either colour), no lock, no intent, the schema not behind the serving version; a flow that needs
more is given it with one command (the rollback needs v1.1.0 serving: a switch; the emergency rollback and
db.downgrade need v1.1.0's schema, db.upgrade v1.0.0's: one db command). It runs the flow in the background, kills it
(SIGKILL, so nothing of ghosttasks runs after it) when its output reaches the kill point (plus a delay for a point
inside a long step), unlocks, and runs the next command: after a killed deploy (the flow that starts containers,
and the issue's scenario) always `deploy.prod` of the version that is not serving; after any other flow a rollback to
the other colour (`deploy.rollback` when the LB serves v1.1.0, `deploy.rollback --to v1.1.0` when it serves v1.0.0).
A kill point the run never printed fails the case (a renamed step would otherwise test nothing).
Read directly, never through ghosttasks: the LB answers 200 from exactly one colour, the other one, with the version
the next command put there; the containers of the colour that served when the next command started were not
touched by it (ids and start times, through the hosts' Docker sockets); state.json names the LB's colour and
version and the database's real revision, with no intent left; no lock is held; not one request of a steady client
load failed during the kill and the next commands; the next command's history line says it repaired the state
whenever the record was wrong.

CI runs a seeded sample that reaches every changing flow (the issue's exact scenario, a deploy killed right after
its flip, always included); the whole matrix runs with one command:
    GHOST_CRASH_WALK=all python3 -m pytest tests/lab/test_52_crash_walk.py -s
(GHOST_CRASH_SEED picks another sample.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from lab.releases import ALEMBIC_HEADS
from tests.lab.walk_model import other, satisfies
from tests.lab.world import Start, bring_to, lb_answers, psql

OLD, NEW = "v1.0.0", "v1.1.0"
START = Start(NEW, OLD, color=None)  # one colour serves NEW, the other holds OLD, either way round
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
#: the line right after the flag moved: "lb: nginx now sends traffic to green (v1.1.0)" (switch_traffic),
#: "lb: now sends traffic to blue" (the emergency rollback)
FLIPPED = "now sends traffic to"
SEED = int(os.environ.get("GHOST_CRASH_SEED") or 19)
#: what a flow needs of its start beyond the two versions in place (see prepare)
NEW_SERVING, NEW_SCHEMA, OLD_SCHEMA = "NEW serving", "NEW's schema", "OLD's schema"


@dataclass(frozen=True)
class KillPoint:
    """Kill when a line of the run's output contains `after`, `delay` seconds later (0: at the boundary); with
    no `after`, `delay` seconds after the command started (a flow that prints nothing until it ends)."""

    after: str = ""
    delay: float = 0.0

    def label(self) -> str:
        return (f"{self.after.strip()!r}" if self.after else "start") + (f" +{self.delay:g}s" if self.delay else "")


@dataclass(frozen=True)
class Flow:
    name: str
    argv: tuple[str, ...]
    points: tuple[KillPoint, ...]
    needs: str | None = None  # NEW_SERVING, NEW_SCHEMA or OLD_SCHEMA (given by prepare when the lab has not)


def _boundaries(*steps: str) -> tuple[KillPoint, ...]:
    return tuple(KillPoint(f"==> {step}") for step in steps)


#: In the order the cases run: each starts where the one before left the lab, so the order saves set-up commands
#: (a rollback leaves OLD serving on OLD's schema, which db.upgrade wants; a deploy of NEW leaves NEW's schema).
FLOWS = (
    Flow(
        "rollback",
        ("deploy.rollback", "--yes"),
        (
            *_boundaries("plan rollback", "health check ", "switch traffic"),
            KillPoint(FLIPPED),
            *_boundaries("verify traffic", "downgrade database"),
            KillPoint("==> downgrade database", 1.0),
            KillPoint("rolled back to "),
        ),
        needs=NEW_SERVING,
    ),
    Flow(
        "db.upgrade",
        ("db.upgrade", "-r", ALEMBIC_HEADS[NEW], "--yes"),
        (KillPoint("==> plan migration"), KillPoint("==> alembic upgrade"), KillPoint("==> alembic upgrade", 1.0)),
        needs=OLD_SCHEMA,
    ),
    Flow(
        "db.downgrade",
        ("db.downgrade", "-r", ALEMBIC_HEADS[OLD], "--force", "--yes"),
        (KillPoint("==> plan migration"), KillPoint("==> alembic downgrade"), KillPoint("==> alembic downgrade", 1.0)),
        needs=NEW_SCHEMA,
    ),
    Flow(
        "switch",
        ("traffic.switch", "{idle}", "--yes"),
        (*_boundaries("plan switch", "health check ", "switch traffic"), KillPoint(FLIPPED), KillPoint("==> verify")),
    ),
    Flow(
        "deploy",
        ("deploy.prod", "--version", NEW, *NO_MONITOR),
        (
            *_boundaries(
                "preflight", "fetch and build", "review migration", "backup database", "start ", "migrate database"
            ),
            *_boundaries("health check ", "smoke test ", "switch traffic"),
            KillPoint(FLIPPED),
            *_boundaries("verify traffic", "log analysis", "prune old versions"),
            KillPoint(" is live on "),
            KillPoint("==> fetch and build", 1.5),
            KillPoint("==> start ", 1.0),
            KillPoint("==> health check ", 0.5),
        ),
    ),
    Flow(
        "emergency",
        ("deploy.emergency-rollback", "--reason", "crash walk"),
        (
            KillPoint("==> switch to the previous colour"),
            KillPoint(FLIPPED),
            *_boundaries("freeze deploys", "alert on-call", "verify traffic"),
        ),
        needs=NEW_SCHEMA,
    ),
    Flow("prune", ("deploy.prune",), (KillPoint(delay=0.4), KillPoint(delay=0.6), KillPoint(delay=0.8))),
)
DEPLOY = next(flow for flow in FLOWS if flow.name == "deploy")


def cases() -> list[tuple[Flow, KillPoint]]:
    """Every (flow, kill point) with GHOST_CRASH_WALK=all; else a seeded one per flow, the issue's scenario (the
    deploy killed right after its flip) for the deploy. In FLOWS order either way."""
    if os.environ.get("GHOST_CRASH_WALK") == "all":
        return [(flow, point) for flow in FLOWS for point in flow.points]
    chooser = random.Random(SEED)
    drawn = {flow.name: chooser.choice(flow.points) for flow in FLOWS if flow is not DEPLOY}
    return [(flow, KillPoint(FLIPPED) if flow is DEPLOY else drawn[flow.name]) for flow in FLOWS]


# -- reality --------------------------------------------------------------------------------------------------


def serving() -> tuple[str, str]:
    """The one (colour, version) the LB answers from, asserted to be one."""
    answers = set(lb_answers(10))
    assert len(answers) == 1, f"the LB answers from more than one colour: {answers}"
    return next(iter(answers))


#: The demo's workers (app.workers): they follow the traffic, so a deploy stops the old colour's after its switch.
WORKERS = {"worker", "scheduler"}
APP_HOSTS = ("app1", "app2")


def _host_containers(lab, host: str, color: str) -> list[str]:
    """The colour's running containers but its workers on one app host, as 'id started-at', from its Docker API."""
    project = json.dumps({"label": [f"com.docker.compose.project=ghostworks-{color}"]})
    transport = httpx.HTTPTransport(uds=str(lab.docker_sock(host)))
    with httpx.Client(transport=transport, base_url="http://docker", timeout=30) as api:
        listed = api.get("/containers/json", params={"filters": project})
        listed.raise_for_status()
        ids = [c["Id"] for c in listed.json() if c["Labels"].get("com.docker.compose.service") not in WORKERS]
        found = []
        for container in ids:
            inspected = api.get(f"/containers/{container}/json")
            inspected.raise_for_status()
            found.append(f"{container} {inspected.json()['State']['StartedAt']}")
    return sorted(found)


def containers(lab, color: str) -> dict[str, list[str]]:
    """Per app host, each of the colour's running containers but its workers, as 'id started-at'."""
    with ThreadPoolExecutor(len(APP_HOSTS)) as pool:
        return dict(zip(APP_HOSTS, pool.map(lambda host: _host_containers(lab, host, color), APP_HOSTS), strict=True))


def recorded(lab) -> dict:
    return json.loads((lab.lb_state_dir / "state.json").read_text())


def flag_color(lab) -> str:
    return "green" if (lab.lb_state_dir / "ghostworks-active-green").exists() else "blue"


def last_history(lab) -> dict:
    return json.loads((lab.lb_state_dir / "history.jsonl").read_text().splitlines()[-1])


def revision(lab) -> str:
    return psql(lab, "SELECT version_num FROM alembic_version")


def settled(lab) -> tuple[str, str, str] | None:
    """(serving colour, serving version, database revision) when the lab is a start for any flow, read directly:
    no lock, no intent, the LB and its flag and state.json agreeing on the serving colour and version, the other
    colour recorded holding the other of NEW and OLD (not failed), the schema at NEW's or OLD's head and not
    behind the serving version's; else None."""
    if (lab.lb_state_dir / "lock").exists() or not (lab.lb_state_dir / "state.json").exists():
        return None
    state, answers = recorded(lab), set(lb_answers(10))
    if state.get("intent") or len(answers) != 1:
        return None
    color, version = next(iter(answers))
    colors = state.get("colors") or {}
    held = {name: (colors.get(name) or {}) for name in (color, other(color))}
    if flag_color(lab) != color or state.get("active") != color or any(e.get("failed_version") for e in held.values()):
        return None
    if (held[color].get("version"), held[other(color)].get("version")) not in ((NEW, OLD), (OLD, NEW)):
        return None
    if version != held[color]["version"]:
        return None
    db = revision(lab)
    if db not in (ALEMBIC_HEADS[OLD], ALEMBIC_HEADS[NEW]) or not satisfies(db, ALEMBIC_HEADS[version]):
        return None
    return color, version, db


@pytest.fixture(scope="module")
def walk_start(lab, inv):
    """The module's start (world.bring_to, through deploy.status: whatever the modules before left)."""
    bring_to(lab, inv, START)


def prepare(lab, inv, flow: Flow) -> str:
    """Give `flow` its start from where the lab is, with at most one command when the case before left a start;
    returns the idle colour."""
    found = settled(lab)
    if found is None:
        color = bring_to(lab, inv, START)
        found = (color, NEW, revision(lab))
    color, version, db = found
    if flow.needs == NEW_SERVING and version != NEW:
        inv.ok("traffic.switch", other(color), "--yes")  # upgrades to NEW's schema first when it is behind
        color = other(color)
    elif flow.needs == NEW_SCHEMA and db != ALEMBIC_HEADS[NEW]:
        inv.ok("db.upgrade", "-r", ALEMBIC_HEADS[NEW], "--yes")
    elif flow.needs == OLD_SCHEMA and db != ALEMBIC_HEADS[OLD]:
        inv.ok("db.downgrade", "-r", ALEMBIC_HEADS[OLD], "--force", "--yes")
    return other(color)


def next_command(flow: Flow, serving_version: str) -> tuple[str, ...]:
    """What the user runs after the unlock: a killed deploy is deployed again (the version not serving); after any
    other flow (none of them starts containers, so both colours still run NEW and OLD), a rollback to the other
    colour: `deploy.rollback` when NEW serves, `deploy.rollback --to NEW` when OLD does."""
    other_version = OLD if serving_version == NEW else NEW
    if flow is DEPLOY:
        return ("deploy.prod", "--version", other_version, *NO_MONITOR)
    return ("deploy.rollback", "--yes") if serving_version == NEW else ("deploy.rollback", "--to", NEW, "--yes")


# -- driving ----------------------------------------------------------------------------------------------------


def kill_at(process: subprocess.Popen, point: KillPoint, timeout: float = 240) -> tuple[bool, str]:
    """Read the output until the kill point, then SIGKILL; (killed, output). A run that ends first is not killed."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    if not point.after:
        timer = threading.Timer(point.delay, process.send_signal, (signal.SIGKILL,))
        timer.start()
        output, _ = process.communicate(timeout=timeout)
        timer.cancel()
        return process.returncode == -signal.SIGKILL, output
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=30)
            return False, "".join(lines)
        lines.append(line)
        if point.after in line:
            time.sleep(point.delay)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return True, "".join(lines)
    process.kill()
    raise AssertionError(f"never reached {point.label()}:\n{''.join(lines)}")


@pytest.mark.parametrize(("flow", "point"), cases(), ids=lambda item: getattr(item, "name", None) or item.label())
def test_killed_then_unlocked_then_deployed(lab, inv, walk_start, load_loop, flow: Flow, point: KillPoint):
    idle = prepare(lab, inv, flow)
    argv = [word.format(idle=idle) for word in flow.argv]
    with load_loop(max_seconds=400) as load:
        killed, output = kill_at(inv.background(*argv, merge_stderr=True), point)
        print(f"{flow.name} {'killed at' if killed else 'ended before'} {point.label()}:\n{output[-2000:]}")
        assert killed or not point.after, f"{flow.name} ended without printing {point.after!r}: a stale kill point"
        inv.ok("deploy.unlock", "--force")
        flag_before, state_before = flag_color(lab), recorded(lab)
        before_color, before_version = serving()
        assert before_color == flag_before, f"the LB answers from {before_color} but its flag says {flag_before}"
        untouched = containers(lab, before_color)
        command = next_command(flow, before_version)
        version = OLD if before_version == NEW else NEW
        inv.ok(*command)
    after_color, after_version = serving()
    assert load.failures == [], f"{len(load.failures)} of {load.requests} requests failed: {load.failures[:5]}"
    assert (after_color, after_version) == (other(before_color), version), (
        f"{command[0]} put {after_color} ({after_version}) live; {before_color} served before it"
    )
    assert containers(lab, before_color) == untouched, f"{command[0]} touched {before_color}, which was serving"
    state = recorded(lab)
    assert state["active"] == flag_color(lab) == after_color
    assert state["colors"][after_color]["version"] == version and not state["colors"][after_color]["failed_version"]
    assert state["intent"] is None
    assert state["database_revision"] == revision(lab)
    assert not (lab.lb_state_dir / "lock").exists()
    run = last_history(lab)
    repairs = " | ".join(run.get("state_repaired") or ["no repair"])
    print(
        f"crash-walk: {flow.name} killed at {point.label()}" if killed else f"crash-walk: {flow.name} ended first",
        f"-> unlock, {' '.join(command[:3])}: {before_color} -> {after_color}; {repairs}",
    )
    assert (run["task"], run["result"]) == (command[0], "ok")
    if state_before.get("intent") or state_before.get("active") != flag_before:
        assert run.get("state_repaired"), "the state was wrong before the next command and its history says no repair"
    if (flow.name, point.after) == ("deploy", FLIPPED):
        assert killed and any("completed from the LB" in line for line in run["state_repaired"]), run
