"""The crash walk: a changing command killed with SIGKILL at a step boundary (or inside a long step), then what a
user runs next (`deploy.unlock --force`, then `deploy.prod`) under client load, checked against reality.

Each case starts from one colour serving v1.1.0 and the other holding v1.0.0 (either way round), runs the flow in
the background, kills it (SIGKILL, so nothing of ghosttasks runs after it) when its output reaches the kill point
(plus a delay for a point inside a long step), unlocks, and deploys the version that is not serving. Read
directly, never through ghosttasks: the LB answers 200 from exactly one colour, the new one, with the version just
deployed; the containers of the colour that served when the next deploy started were not touched by it (ids and
start times); state.json names the LB's colour and version and the database's real revision, with no intent
left; no lock is held; not one request of a steady client load failed during the kill and the next commands.

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
from dataclasses import dataclass

import pytest

from lab.releases import ALEMBIC_HEADS
from tests.lab.walk_model import other
from tests.lab.world import Start, bring_to, docker, lb_answers, psql

OLD, NEW = "v1.0.0", "v1.1.0"
START = Start(NEW, OLD, color=None)  # one colour serves NEW, the other holds OLD, either way round
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
FLIPPED = "nginx now sends traffic to"  # switch_traffic's line right after the flag moved
SEED = int(os.environ.get("GHOST_CRASH_SEED") or 19)


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
    needs_old_schema: bool = False  # db.upgrade: the database is first taken down to OLD's head


def _boundaries(*steps: str) -> tuple[KillPoint, ...]:
    return tuple(KillPoint(f"==> {step}") for step in steps)


FLOWS = (
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
        "rollback",
        ("deploy.rollback", "--yes"),
        (
            *_boundaries("plan rollback", "health check ", "switch traffic"),
            KillPoint(FLIPPED),
            *_boundaries("verify traffic", "downgrade database"),
            KillPoint("==> downgrade database", 1.0),
            KillPoint("rolled back to "),
        ),
    ),
    Flow(
        "switch",
        ("traffic.switch", "{idle}", "--yes"),
        (*_boundaries("plan switch", "health check ", "switch traffic"), KillPoint(FLIPPED), KillPoint("==> verify")),
    ),
    Flow(
        "emergency",
        ("deploy.emergency-rollback", "--reason", "crash walk"),
        (
            KillPoint("==> switch to the previous colour"),
            KillPoint(FLIPPED),
            *_boundaries("freeze deploys", "alert on-call", "verify traffic"),
        ),
    ),
    Flow(
        "db.downgrade",
        ("db.downgrade", "-r", ALEMBIC_HEADS[OLD], "--force", "--yes"),
        (KillPoint("==> plan migration"), KillPoint("==> alembic downgrade"), KillPoint("==> alembic downgrade", 1.0)),
    ),
    Flow(
        "db.upgrade",
        ("db.upgrade", "-r", ALEMBIC_HEADS[NEW], "--yes"),
        (KillPoint("==> plan migration"), KillPoint("==> alembic upgrade"), KillPoint("==> alembic upgrade", 1.0)),
        needs_old_schema=True,
    ),
    Flow("prune", ("deploy.prune",), (KillPoint(delay=0.4), KillPoint(delay=0.6), KillPoint(delay=0.8))),
)


def cases() -> list[tuple[Flow, KillPoint]]:
    """Every (flow, kill point) with GHOST_CRASH_WALK=all; else a seeded one per flow, the issue's scenario too."""
    everything = [(flow, point) for flow in FLOWS for point in flow.points]
    if os.environ.get("GHOST_CRASH_WALK") == "all":
        return everything
    chooser = random.Random(SEED)
    sample = [(FLOWS[0], KillPoint(FLIPPED))]
    sample += [(flow, chooser.choice(flow.points)) for flow in FLOWS if flow is not FLOWS[0]]
    return sample


# -- reality --------------------------------------------------------------------------------------------------


def serving() -> tuple[str, str]:
    """The one (colour, version) the LB answers from, asserted to be one."""
    answers = set(lb_answers(10))
    assert len(answers) == 1, f"the LB answers from more than one colour: {answers}"
    return next(iter(answers))


#: The demo's workers (app.workers): they follow the traffic, so a deploy stops the old colour's after its switch.
WORKERS = {"worker", "scheduler"}


def containers(lab, color: str) -> dict[str, list[str]]:
    """Per app host, each of the colour's running containers but its workers, as 'id started-at'."""
    found = {}
    for host in ("app1", "app2"):
        listed = docker(
            lab,
            host,
            "ps",
            "--filter",
            f"label=com.docker.compose.project=ghostworks-{color}",
            "--format",
            '{{.ID}} {{.Label "com.docker.compose.service"}}',
        ).stdout.split("\n")
        ids = " ".join(line.split()[0] for line in listed if line.strip() and line.split()[1] not in WORKERS)
        if not ids.split():
            found[host] = []
            continue
        inspect = docker(lab, host, "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", *ids.split()).stdout
        found[host] = sorted(inspect.split("\n")[:-1] if inspect.endswith("\n") else inspect.split("\n"))
    return found


def recorded(lab) -> dict:
    return json.loads((lab.lb_state_dir / "state.json").read_text())


def flag_color(lab) -> str:
    return "green" if (lab.lb_state_dir / "ghostworks-active-green").exists() else "blue"


def last_history(lab) -> dict:
    return json.loads((lab.lb_state_dir / "history.jsonl").read_text().splitlines()[-1])


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
def test_killed_then_unlocked_then_deployed(lab, inv, load_loop, flow: Flow, point: KillPoint):
    idle = other(bring_to(lab, inv, START))
    if flow.needs_old_schema:
        inv.ok("db.downgrade", "-r", ALEMBIC_HEADS[OLD], "--force", "--yes")
    argv = [word.format(idle=idle) for word in flow.argv]
    with load_loop(max_seconds=400) as load:
        killed, output = kill_at(inv.background(*argv, merge_stderr=True), point)
        print(f"{flow.name} {'killed at' if killed else 'ended before'} {point.label()}:\n{output[-2000:]}")
        inv.ok("deploy.unlock", "--force")
        flag_before, state_before = flag_color(lab), recorded(lab)
        before_color, before_version = serving()
        assert before_color == flag_before, f"the LB answers from {before_color} but its flag says {flag_before}"
        untouched = containers(lab, before_color)
        version = OLD if before_version == NEW else NEW
        inv.ok("deploy.prod", "--version", version, *NO_MONITOR)
    after_color, after_version = serving()
    assert load.failures == [], f"{len(load.failures)} of {load.requests} requests failed: {load.failures[:5]}"
    assert (after_color, after_version) == ("green" if before_color == "blue" else "blue", version), (
        f"the next deploy went into {after_color} ({after_version}); {before_color} served before it"
    )
    assert containers(lab, before_color) == untouched, f"the deploy touched {before_color}, which was serving"
    state = recorded(lab)
    assert state["active"] == flag_color(lab) == after_color
    assert state["colors"][after_color]["version"] == version and not state["colors"][after_color]["failed_version"]
    assert state["intent"] is None
    assert state["database_revision"] == psql(lab, "SELECT version_num FROM alembic_version")
    assert not (lab.lb_state_dir / "lock").exists()
    run = last_history(lab)
    repairs = " | ".join(run.get("state_repaired") or ["no repair"])
    print(
        f"crash-walk: {flow.name} killed at {point.label()}" if killed else f"crash-walk: {flow.name} ended first",
        f"-> unlock, deploy.prod {version}: {before_color} -> {after_color}; {repairs}",
    )
    assert (run["task"], run["result"]) == ("deploy.prod", "ok")
    if state_before.get("intent") or state_before.get("active") != flag_before:
        assert run.get("state_repaired"), "the state was wrong before the deploy and its history says no repair"
    if (flow.name, point.after) == ("deploy", FLIPPED):
        assert killed and any("completed from the LB" in line for line in run["state_repaired"]), run
