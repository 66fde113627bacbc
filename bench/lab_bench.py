"""Lab benchmark (issue 11): failed requests per client kind, switch and emergency-rollback latency, flag vs reload.

One run on the lab, two phases of the same sequence with the same five client kinds going through the LB
all the time (new connection per request, httpx keep-alive retrying once, httpx keep-alive pool, plain
http.client keep-alive GET and POST that never retry):

    N x `inv traffic.switch` (alternating colours), `inv deploy.prod --version v1.3.0`, `inv deploy.rollback`,
    `inv deploy.emergency-rollback` + `inv deploy.unlock --force`

- phase "flag": the commands as shipped (a switch creates or removes the flag file the LB's selector reads);
- phase "reload": the same commands with the switch of before commit 87785e1 (upload the upstream, swap it
  in, `nginx -t`, `nginx -s reload`), run by this script as `lab_bench.py --inv-with-reload-switch ARGS`:
  Invoke with `switch_traffic` replaced by `reload_switch_traffic` below, for every flow that switches.

Needs the lab (brought up with lab.labctl.up() and left running; `inv lab.down` stops it). Prints Markdown
tables, writes bench/results/lab.json and every command's run log under bench/results/lab-runlogs/.

    python3 bench/lab_bench.py             # 20 switches per phase, with deploy.prod and deploy.rollback
    python3 bench/lab_bench.py --quick     # 2 switches per phase and the emergency rollback, for a smoke run
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import fmt_s, machine_info, median, print_table, verdict

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
RESULTS = ROOT / "bench" / "results"
RUNLOGS = RESULTS / "lab-runlogs"
ENV = {**os.environ, "GHOST_INVENTORY": str(ROOT / "lab" / "hosts.yml")}

LB_ADDRESS, LB_PORT = "127.0.0.10", 80  # the lab's LB (lab/hosts.yml lb.public_url)
HEALTH_PATH = "/api/v1/health"
# Harmless POST the demo app answers without touching the database: a refresh with a token that is not one
# (401 "invalid refresh token"). A 401 is an answer; only an exception or a 5xx is a failure.
POST_PATH, POST_BODY = "/api/v1/auth/refresh", b'{"refresh_token": "ghosttasks-bench-not-a-token"}'

OLDER, NEWER = "v1.1.0", "v1.3.0"  # good lab releases (lab/releases.py); NEWER is the one deploy.prod deploys
MODES = {
    "flag": "flag file (as shipped)",
    "reload": "nginx -s reload (the switch before 87785e1)",
}
RELOAD_SHIM = "--inv-with-reload-switch"
CLIENT_KINDS = {
    "new": "new connection per request (httpx GET)",
    "keepalive_retry": "httpx keep-alive pool, GET retried once",
    "keepalive_raw": "httpx keep-alive pool, GET never retried",
    "raw_get": "http.client keep-alive GET, never retried",
    "raw_post": "http.client keep-alive POST, never retried",
}
TIMED = ("traffic.switch", "deploy.emergency-rollback")
TARGET_S = 1.0
CLIENT_PAUSE_S = 0.02  # between two requests of one client: ~150 requests/s in all through the LB
BETWEEN_COMMANDS_S = 0.3  # idle keep-alive connections between two commands, as between real ones


# -- the old switch, for the side-by-side comparison ---------------------------------------------------------------


def reload_switch_traffic(run: Any, color: str, version: str) -> None:
    """The switch of before 87785e1, step for step: upload the upstream, swap it in, `nginx -t`, reload.

    The LB config of today defines both colours and the flag file selects one, so the old rewrite of the
    upstream becomes: upload and swap in the rendered upstream (the same content, as the old switch wrote a
    file every time), `nginx -t`, then flip the flag and `nginx -s reload -c <conf>` in one remote command.
    The LB moves to `color` at that command, where the old switch's reload moved it.
    """
    from ghosttasks.commands import nginx, render
    from ghosttasks.domain.errors import OperationFailed

    env = run.env
    lb = env.lb
    if lb is None:
        raise OperationFailed(f"environment {env.name} has no lb: there is no traffic to switch")
    content, sudo = render.upstream(env), lb.sudo
    if sudo:
        owner, group = lb.owner
        run.executor.put(env.lb_host, content, nginx.upload_path(lb.upstream_path), mode=0o600)
        stage = nginx.stage_as_root(lb.upstream_path, owner=owner, group=group)
        run.executor.run(env.lb_host, stage, what="stage the new upstream (sudo install)")
    else:
        run.executor.put(env.lb_host, content, nginx.staged_path(lb.upstream_path), mode=nginx.UPSTREAM_MODE)
    run.executor.run(env.lb_host, nginx.swap_in(lb.upstream_path, sudo=sudo), what="install the new upstream")
    tested = run.executor.run(env.lb_host, nginx.test(lb.nginx, lb.nginx_conf, sudo=sudo), check=False)
    if not tested.ok:
        run.executor.run(env.lb_host, nginx.restore_previous(lb.upstream_path, sudo=sudo), what="restore")
        raise OperationFailed(f"nginx -t rejected the upstream on {env.lb_host.name}: {tested.describe()}")
    flip_and_reload = f"{nginx.set_flag(env.flag_path, color)} && {nginx.reload(lb.nginx, lb.nginx_conf, sudo=sudo)}"
    run.executor.run(env.lb_host, flip_and_reload, what="nginx reload")
    run.out.ok(f"{env.lb_host.name}: nginx now sends traffic to {color} ({version}) (reload-based switch)")


def run_inv_with_reload_switch(args: list[str]) -> None:
    """`inv ARGS` with reload_switch_traffic in place of the flag switch, in every flow that switches.

    The flows bind `switch_traffic` when the task imports them (inside its body, after this), except
    ghosttasks.flows.steps.switching itself, whose attribute is replaced here; any module already holding
    the original is patched too.
    """
    from ghosttasks.flows.steps import switching

    original = switching.switch_traffic
    for module in list(sys.modules.values()):
        if module.__name__.startswith("ghosttasks") and getattr(module, "switch_traffic", None) is original:
            module.switch_traffic = reload_switch_traffic
    from invoke.main import program

    program.run(["inv", *args])


# -- running inv ---------------------------------------------------------------------------------------------------


def inv_binary() -> str:
    """The `inv` console script installed next to this Python (what an operator runs; no pyenv shim)."""
    candidate = Path(sys.executable).parent / "inv"
    return str(candidate) if candidate.exists() else (shutil.which("inv") or "inv")


def inv_argv(args: list[str], mode: str = "flag") -> list[str]:
    """The command line of `inv ARGS`: the real `inv` script, or this script as the reload shim. Both are a
    Python script that calls invoke.main.program.run() (`python -m invoke` was 0.1-0.2 s slower per switch)."""
    if mode == "reload":
        return [sys.executable, str(SCRIPT), RELOAD_SHIM, *args]
    return [inv_binary(), *args]


def inv(args: list[str], *, mode: str = "flag", log_dir: Path | None = None) -> tuple[float, str]:
    """Run `inv ARGS` (timeout 900 s); (wall seconds, stdout). A failure raises with its output."""
    env = {**ENV, **({"GHOST_LOG_DIR": str(log_dir)} if log_dir else {})}
    started = time.monotonic()
    result = subprocess.run(inv_argv(args, mode), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"inv {' '.join(args)} ({mode}) exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return seconds, result.stdout


def run_id_of(log_dir: Path) -> str | None:
    """The run id in a command's run log name (<UTC stamp>-<task>-<run id>.log)."""
    logs = sorted(log_dir.glob("*.log"))
    return logs[-1].stem.rsplit("-", 1)[-1] if logs else None


# -- the lab's recorded state, read on this machine (the lab's LB is a directory here) -----------------------------


def lb_state_dir() -> Path:
    """The LB's lb.state_dir (state.json, history.jsonl, lock)."""
    from lab.labctl.paths import layout

    return layout().lb_state_dir


def lab_state() -> dict[str, Any]:
    """state.json as the last command wrote it, with `lock`: whether a deploy lock (or freeze) is held."""
    directory = lb_state_dir()
    path = directory / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {"active": None, "colors": {}}
    state["lock"] = (directory / "lock").exists()
    return state


def lab_history() -> list[dict[str, Any]]:
    """Every history entry on the LB (one JSON object per line)."""
    path = lb_state_dir() / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def lb_error_log() -> Path:
    """The LB nginx's error log (lab/templates/nginx.conf.j2): one `signal 1 (SIGHUP)` notice per reload."""
    from lab.labctl.paths import layout

    return layout().lb_dir / "error.log"


def nginx_reloads_since(offset: int) -> int:
    """Reloads nginx logged after a byte offset of its error log."""
    path = lb_error_log()
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        handle.seek(offset)
        return sum(1 for line in handle if b"(SIGHUP) received" in line)


def colour_running(state: dict[str, Any], version: str) -> str | None:
    """The colour whose known-good version is `version`, if any."""
    for colour, info in state.get("colors", {}).items():
        if info.get("version") == version and not info.get("failed_version"):
            return colour
    return None


def other(colour: str) -> str:
    """blue <-> green."""
    return "green" if colour == "blue" else "blue"


def prepare_lab() -> None:
    """Untimed, no load: OLDER in one colour and NEWER in the other, the database at NEWER's head, traffic on
    OLDER's colour (so deploy.prod NEWER goes into NEWER's colour and deploy.rollback switches back)."""
    state = lab_state()
    if state["lock"]:
        inv(["deploy.unlock", "--force"])
    for version in (OLDER, NEWER):
        if colour_running(state, version) is None:
            inv(["deploy.prod", "--version", version, "--yes", "--monitor-minutes", "0"])
            state = lab_state()
    head = state.get("version_heads", {}).get(NEWER)
    if head and state.get("database_revision") != head:
        inv(["db.upgrade", "-r", head, "--yes"])  # run while NEWER may still serve: its code knows the head
        state = lab_state()
    older = colour_running(state, OLDER)
    if older is None or colour_running(state, NEWER) is None:
        raise RuntimeError(f"the lab should run {OLDER} and {NEWER}, it runs {state.get('colors')}")
    if state["active"] != older:
        inv(["traffic.switch", older, "--yes"])


# -- the clients ---------------------------------------------------------------------------------------------------


@dataclass
class ClientStats:
    """What one client saw: requests, failures (exception type or `HTTP 5xx`), answers, reconnections."""

    requests: int = 0
    failed: int = 0
    failures: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    colours: Counter = field(default_factory=Counter)
    retried: int = 0  # keepalive_retry: requests whose first attempt failed
    connections: int = 0  # http.client kinds: connections opened (after an error, or a `Connection: close`)
    failure_log: list[dict[str, Any]] = field(default_factory=list)


def answer_colour(body: bytes) -> str | None:
    """The `color` of a health answer."""
    try:
        return json.loads(body).get("color")
    except (ValueError, AttributeError):
        return None


class Load:
    """One client of each CLIENT_KINDS kind, each in its own thread, until stopped (bounded in time and count).

    `during` names the command running now; each failure is logged with it.
    """

    def __init__(self, *, max_seconds: float = 1800, max_requests: int = 200_000, pause: float = CLIENT_PAUSE_S):
        self.max_seconds, self.max_requests, self.pause = max_seconds, max_requests, pause
        self.stats = {kind: ClientStats() for kind in CLIENT_KINDS}
        self.during = "start"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop_of(kind), args=(kind,), name=f"client-{kind}") for kind in CLIENT_KINDS
        ]
        self.started = time.monotonic()

    def _loop_of(self, kind: str) -> Any:
        return self._http_client_loop if kind.startswith("raw_") else self._httpx_loop

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _going(self, stats: ClientStats) -> bool:
        return (
            not self._stop.is_set()
            and time.monotonic() - self.started < self.max_seconds
            and stats.requests < self.max_requests
        )

    def _count(self, stats: ClientStats, status: int | None, error: str | None, colour: str | None = None) -> None:
        stats.requests += 1
        if status is not None:
            stats.statuses[status] += 1
        if colour:
            stats.colours[colour] += 1
        what = error or (f"HTTP {status}" if status is not None and status >= 500 else None)
        if what:
            stats.failed += 1
            stats.failures[what] += 1
            stats.failure_log.append(
                {"t": round(time.monotonic() - self.started, 3), "during": self.during, "what": what}
            )

    def _httpx_loop(self, kind: str) -> None:
        import httpx

        stats = self.stats[kind]
        keep = 0 if kind == "new" else 10
        attempts = 2 if kind == "keepalive_retry" else 1  # RFC 9110: an idempotent GET may be retried
        limits = httpx.Limits(max_keepalive_connections=keep)
        with httpx.Client(base_url=f"http://{LB_ADDRESS}:{LB_PORT}", timeout=5, limits=limits) as client:
            while self._going(stats):
                for attempt in range(attempts):
                    status = error = colour = None
                    try:
                        response = client.get(HEALTH_PATH)
                        status, colour = response.status_code, answer_colour(response.content)
                    except httpx.HTTPError as exc:
                        error = type(exc).__name__
                    if (error is None and status < 500) or attempt == attempts - 1:
                        break
                    stats.retried += 1
                self._count(stats, status, error, colour)
                time.sleep(self.pause)

    def _http_client_loop(self, kind: str) -> None:
        stats = self.stats[kind]
        post = kind == "raw_post"
        method, path, body = ("POST", POST_PATH, POST_BODY) if post else ("GET", HEALTH_PATH, None)
        headers = {"Content-Type": "application/json"} if post else {}
        connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
        try:
            while self._going(stats):
                if connection.sock is None:
                    stats.connections += 1  # http.client opens one: first request, or the server closed it
                status = error = colour = None
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    status, colour = response.status, None if post else answer_colour(data)
                except (OSError, http.client.HTTPException) as exc:
                    error = type(exc).__name__
                    connection.close()
                    connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
                self._count(stats, status, error, colour)
                time.sleep(self.pause)
        finally:
            connection.close()

    def summary(self) -> dict[str, Any]:
        """Plain-JSON stats per kind (Counters as dicts)."""
        return {
            kind: {name: dict(value) if isinstance(value, Counter) else value for name, value in vars(stats).items()}
            for kind, stats in self.stats.items()
        }


# -- one command, timed until the LB answers from its target colour -----------------------------------------------


def watch_until_lb_answers(colour: str, started: float, stop: threading.Event, seen: list[float]) -> None:
    """Poll the LB's health on new connections every 5 ms (at most 120 s) until it answers from `colour`."""
    while not stop.is_set() and time.monotonic() - started < 120:
        connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=2)
        try:
            connection.request("GET", HEALTH_PATH)
            if answer_colour(connection.getresponse().read()) == colour:
                seen.append(time.monotonic() - started)
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.005)


def timed_inv(args: list[str], colour: str | None, *, mode: str, log_dir: Path) -> tuple[float | None, float]:
    """(seconds from the command's start until the LB answers from `colour`, whole-command seconds)."""
    seen: list[float] = []
    stop = threading.Event()
    started = time.monotonic()
    watcher = threading.Thread(target=watch_until_lb_answers, args=(colour, started, stop, seen))
    if colour:
        watcher.start()
    try:
        inv(args, mode=mode, log_dir=log_dir)
        total = time.monotonic() - started
        if colour:
            watcher.join(timeout=5)  # it moved during the command (the command verifies it), or 5 s more
    finally:
        stop.set()
        if colour:
            watcher.join(timeout=5)
    return (seen[0] if seen else None), total


@dataclass
class Command:
    """One command of a phase, as measured."""

    mode: str
    task: str
    args: list[str]
    target: str | None
    seconds: float
    lb_answers_s: float | None
    run_id: str | None
    log_dir: str
    history: dict[str, Any] | None = None
    remote: dict[str, float] = field(default_factory=dict)


def run_phase(mode: str, switches: int, *, full: bool, load: Load) -> list[Command]:
    """The sequence under load: switches (alternating), [deploy.prod NEWER, deploy.rollback], emergency rollback,
    unlock. Each command's run log goes to its own directory."""
    commands: list[Command] = []

    def command(args: list[str], target: str | None) -> None:
        task = args[0]
        log_dir = RUNLOGS / mode / f"{len(commands) + 1:02d}-{task.replace('.', '-')}"
        load.during = f"{task} {target or ''}".strip()
        lb_s, seconds = timed_inv(args, target, mode=mode, log_dir=log_dir)
        load.during = f"after {task}"
        commands.append(Command(mode, task, args, target, seconds, lb_s, run_id_of(log_dir), str(log_dir)))
        print(f"  {mode:6} {' '.join(args):60} LB {fmt_s(lb_s)} s, whole {seconds:.3f} s", flush=True)
        time.sleep(BETWEEN_COMMANDS_S)

    active = lab_state()["active"]
    for _ in range(switches):
        active = other(active)
        command(["traffic.switch", active, "--yes"], active)
    if full:
        state = lab_state()
        command(["deploy.prod", "--version", NEWER, "--yes", "--monitor-minutes", "0"], other(state["active"]))
        command(["deploy.rollback", "--yes"], colour_running(lab_state(), OLDER))
    command(["deploy.emergency-rollback", "--reason", "bench"], lab_state()["previous"])
    command(["deploy.unlock", "--force"], None)
    history = {entry.get("run_id"): entry for entry in lab_history()}
    for item in commands:
        entry = history.get(item.run_id)
        if entry:
            item.history = {"seconds": entry.get("seconds"), "steps": entry.get("steps", [])}
        item.remote = where_the_time_goes(Path(item.log_dir))
    return commands


# -- where the time goes -------------------------------------------------------------------------------------------


def remote_step_kind(event: dict[str, Any]) -> str:
    """What a run-log event (a remote command or an upload) was for."""
    command = event.get("command") or ""
    if event.get("event") == "upload":
        return "upload state.json" if str(event.get("path", "")).endswith("state.json") else "upload LB config"
    rules = (
        ("-s reload", "nginx reload (reload switch: flag + reload)"),
        (" -t -q", "nginx -t"),
        ("end of file ---", "read LB config"),
        ("-active-green", "select colour (flag file)"),
        (".ghosttasks-new", "install LB config (swap)"),
        ("sudo ok", "access preflight (sudo, docker)"),
        ("docker ok", "access preflight (sudo, docker)"),
        ("alembic_version", "read database revision"),
        ("history.jsonl", "history"),
        ("if grep -qF", "lock release"),
        ("/lock && mkdir", "freeze deploys (lock)"),
        ("if mkdir", "lock take"),
        ("/lock", "lock (other)"),
    )
    for needle, kind in rules:
        if needle in command:
            return kind
    if "state.json" in command and command.startswith("cat"):
        return "read state"
    if re.fullmatch(r"mkdir -p \S+", command):
        return "mkdir state dir (save state)"
    return "other remote"


def where_the_time_goes(log_dir: Path) -> dict[str, float]:
    """Seconds per kind of remote step of one command (its run log: every command and upload with its duration)."""
    kinds: Counter = Counter()
    for path in log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") in ("command", "upload"):
                kinds[remote_step_kind(event)] += event.get("duration", 0)
    return {kind: round(seconds, 4) for kind, seconds in sorted(kinds.items())}


def interpreter_and_imports() -> float:
    """Median seconds of 5 x a Python that imports what a switch imports (Invoke, tasks.py, the flows, SSH)."""
    imports = (
        "import invoke.main, tasks, ghosttasks.flows.switch, ghosttasks.flows.emergency, "
        "ghosttasks.execution.ssh_executor"
    )
    samples = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", imports], cwd=ROOT, env=ENV, check=True, timeout=60)
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def step_name(name: str) -> str:
    """A history step name without its colour ('health check green' -> 'health check <colour>')."""
    return re.sub(r"\b(blue|green)\b", "<colour>", name)


def time_breakdown(commands: list[dict[str, Any]], imports_s: float) -> dict[str, Any]:
    """Median seconds of each part of the whole command (the parts of one run add up to its wall time):

    - interpreter start + imports, measured apart (interpreter_and_imports);
    - outside the guarded block: Invoke, inventory, SSH to the LB, lock take, then history, lock release,
      notification, closing: whole - the history entry's `seconds` - imports;
    - between the steps, inside the block (traffic.switch: the database revision read again, state saved):
      `seconds` - the steps;
    - each history step.
    """
    steps: dict[str, list[float]] = {}
    outside, between, totals = [], [], []
    for item in commands:
        history = item.get("history") or {}
        recorded = history.get("steps", [])
        for step in recorded:
            steps.setdefault(step_name(step["name"]), []).append(step["seconds"])
        totals.append(item["seconds"])
        if history.get("seconds") is not None:
            outside.append(item["seconds"] - history["seconds"] - imports_s)
            between.append(history["seconds"] - sum(step["seconds"] for step in recorded))
    remote_kinds = sorted({kind for item in commands for kind in item.get("remote", {})})
    remote = {kind: median(item.get("remote", {}).get(kind, 0.0) for item in commands) for kind in remote_kinds}
    return {
        "whole_s": median(totals),
        "interpreter_and_imports_s": imports_s,
        "outside_block_s": median(outside),
        "between_steps_s": median(between),
        "steps_s": {name: median(values) for name, values in steps.items()},
        "remote_s": remote,
    }


# -- the report ----------------------------------------------------------------------------------------------------


def timing(commands: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Median and max of one timing over commands (None where it was not seen)."""
    values = [item[key] for item in commands]
    seen = [value for value in values if value is not None]
    return {
        "median": median(seen),
        "max": max(seen) if seen else None,
        "runs": len(values),
        "missing": len(values) - len(seen),
    }


def under_target(item: dict[str, Any]) -> dict[str, bool | None]:
    """Whether the median and every run (max) are under the target; None when not measured."""
    if item["median"] is None:
        return {"median": None, "every run": None}
    return {"median": item["median"] < TARGET_S, "every run": item["missing"] == 0 and item["max"] < TARGET_S}


def summarise(phases: dict[str, dict[str, Any]], imports_s: float) -> dict[str, Any]:
    """Failed requests per kind and mode, the timings and their verdicts, and where the time goes."""
    summary: dict[str, Any] = {"clients": {}, "timings": {}, "time_breakdown": {}, "targets": {}}
    for mode, phase in phases.items():
        summary["clients"][mode] = {
            kind: {"requests": stats["requests"], "failed": stats["failed"], "failures": dict(stats["failures"])}
            for kind, stats in phase["clients"].items()
        }
        for task in TIMED:
            runs = [item for item in phase["commands"] if item["task"] == task]
            lb, whole = timing(runs, "lb_answers_s"), timing(runs, "seconds")
            summary["timings"].setdefault(task, {})[mode] = {
                "lb_answers_s": {**lb, "under_1s": under_target(lb)},
                "whole_s": {**whole, "under_1s": under_target(whole)},
            }
            summary["time_breakdown"].setdefault(task, {})[mode] = time_breakdown(runs, imports_s)
    for mode in phases:
        clients = summary["clients"][mode].values()
        failed, requests = sum(c["failed"] for c in clients), sum(c["requests"] for c in clients)
        target = {"target": "0 failed requests for every client kind", "measured": f"{failed} of {requests}"}
        summary["targets"].setdefault(target["target"], {})[mode] = {
            **target,
            "met": {"every kind": all(c["failed"] == 0 for c in clients)},
        }
        for task in TIMED:
            for what, label in (("lb_answers_s", "until the LB answers from the new colour"), ("whole_s", "whole")):
                item = summary["timings"][task][mode][what]
                name = f"{task} < 1 s, {label}"
                summary["targets"].setdefault(name, {})[mode] = {
                    "target": name,
                    "measured": f"{fmt_s(item['median'])} / {fmt_s(item['max'])}",
                    "met": item["under_1s"],
                }
    return summary


def print_report(summary: dict[str, Any], phases: dict[str, dict[str, Any]]) -> None:
    """The Markdown tables of docs/performance.md."""
    modes = [mode for mode in MODES if mode in phases]
    rows = []
    for kind, label in CLIENT_KINDS.items():
        row = [label]
        for mode in modes:
            client = summary["clients"][mode][kind]
            types = ", ".join(f"{name} {count}" for name, count in sorted(client["failures"].items()))
            row.append(f"{client['failed']} / {client['requests']}" + (f" ({types})" if types else ""))
        rows.append(row)
    clients = {mode: phases[mode]["clients"] for mode in modes}
    rows += [
        ["(retries the retrying httpx client needed)", *(clients[m]["keepalive_retry"]["retried"] for m in modes)],
        ["(connections the http.client GET / POST clients opened)"]
        + [f"{clients[m]['raw_get']['connections']} / {clients[m]['raw_post']['connections']}" for m in modes],
        ["(nginx reloads during the phase, from its error log)", *(phases[m].get("nginx_reloads") for m in modes)],
    ]
    print_table(
        "Failed / requests per client kind (target 0 for every kind)",
        ["client kind", *(f"{MODES[mode]}" for mode in modes)],
        rows,
    )
    rows = []
    for task in TIMED:
        for mode in modes:
            item = summary["timings"][task][mode]
            lb, whole = item["lb_answers_s"], item["whole_s"]
            rows.append(
                [
                    f"`{task}` ({lb['runs']})",
                    mode,
                    f"{fmt_s(lb['median'])} / {fmt_s(lb['max'])}",
                    f"{fmt_s(whole['median'])} / {fmt_s(whole['max'])}",
                    ", ".join(verdict(lb["under_1s"][w]) for w in ("median", "every run")),
                    ", ".join(verdict(whole["under_1s"][w]) for w in ("median", "every run")),
                ]
            )
    print_table(
        "Seconds, median / max (target < 1 s each; verdicts: median, every run)",
        ["command (runs)", "switch", "LB answers from the new colour", "whole command", "LB verdict", "whole verdict"],
        rows,
    )
    columns = [(task, mode) for task in TIMED for mode in modes]
    header = [f"{'switch' if task == 'traffic.switch' else 'emergency'} {mode}" for task, mode in columns]
    breakdowns = [summary["time_breakdown"][task][mode] for task, mode in columns]
    names = list(dict.fromkeys(name for item in breakdowns for name in item["steps_s"]))
    rows = [
        ["interpreter start + imports (measured apart)", *(fmt_s(b["interpreter_and_imports_s"]) for b in breakdowns)],
        ["outside the guarded block: Invoke, inventory, SSH to the LB, lock, history, notify, exit"]
        + [fmt_s(b["outside_block_s"]) for b in breakdowns],
        ["inside the block, between the steps (switch: database revision again, save state)"]
        + [fmt_s(b["between_steps_s"]) for b in breakdowns],
    ]
    rows += [[f"step: {name}", *(fmt_s(b["steps_s"].get(name)) for b in breakdowns)] for name in names]
    rows.append(["whole command", *(fmt_s(b["whole_s"]) for b in breakdowns)])
    print_table("Where the time goes: median seconds per part (history steps of each run)", ["part", *header], rows)
    kinds = list(dict.fromkeys(kind for item in breakdowns for kind in item["remote_s"]))
    rows = [[kind, *(f"{(b['remote_s'].get(kind) or 0) * 1000:.1f}" for b in breakdowns)] for kind in kinds]
    print_table(
        "Remote commands by kind, median ms per run: their durations summed (run logs)",
        ["remote command", *header],
        rows,
    )
    rows = []
    for mode in modes:
        for item in phases[mode]["commands"]:
            if item["task"] in ("deploy.prod", "deploy.rollback"):
                rows.append([f"`{item['task']}`", mode, fmt_s(item["lb_answers_s"]), fmt_s(item["seconds"])])
    if rows:
        columns = ["command", "switch", "LB answers from the new colour", "whole command"]
        print_table("The other commands of the sequence (one run each), seconds", columns, rows)
    rows = []
    for name, per_mode in summary["targets"].items():
        row = [name]
        for mode in modes:
            item = per_mode[mode]
            row += [item["measured"], ", ".join(f"{which} {verdict(ok)}" for which, ok in item["met"].items())]
        rows.append(row)
    columns = [column for mode in modes for column in (f"{mode}: measured (median / max)", f"{mode}: verdict")]
    print_table("Targets (issue 11); the shipped switch is the flag one", ["target", *columns], rows)
    for mode in modes:
        during = Counter(
            (kind, failure["during"].split()[0], failure["what"])
            for kind, stats in phases[mode]["clients"].items()
            for failure in stats["failure_log"]
        )
        if during:
            rows = [[CLIENT_KINDS[kind], task, what, count] for (kind, task, what), count in sorted(during.items())]
            print_table(
                f"{mode} switch: failures by the command running at the time",
                ["client kind", "during", "failure", "count"],
                rows,
            )


def print_deploy_steps(phases: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The step timings of the flag phase's deploy.prod (docs/performance.md, section 6)."""
    deploys = [item for item in phases.get("flag", {}).get("commands", []) if item["task"] == "deploy.prod"]
    if not deploys or not deploys[-1].get("history"):
        return None
    history = deploys[-1]["history"]
    print_table(
        f"deploy.prod {NEWER}, steps in order (total {history['seconds']:.1f} s)",
        ["step", "seconds"],
        [[step["name"], f"{step['seconds']:.2f}"] for step in history["steps"]],
    )
    return history


# -- main ----------------------------------------------------------------------------------------------------------


def main() -> None:
    """Bring the lab up, prepare it, run both phases under load, print and write the results."""
    if len(sys.argv) > 1 and sys.argv[1] == RELOAD_SHIM:
        run_inv_with_reload_switch(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 switches per phase, no deploy.prod or rollback")
    parser.add_argument("--switches", type=int, help="switches per phase (even; default 20, --quick 2)")
    parser.add_argument("--reload-first", action="store_true", help="run the reload phase first (order effects)")
    args = parser.parse_args()
    switches = args.switches or (2 if args.quick else 20)
    switches += switches % 2  # even: each phase ends on OLDER's colour, so deploy.prod goes into NEWER's
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from lab import labctl

    labctl.up(quiet=True)
    shutil.rmtree(RUNLOGS, ignore_errors=True)
    results: dict[str, Any] = {
        "benchmark": "lab",
        "quick": args.quick,
        "switches_per_phase": switches,
        "full_sequence": not args.quick,
        "phase_order": "reload, flag" if args.reload_first else "flag, reload",
        "versions": {"older": OLDER, "newer": NEWER},
        "client_pause_s": CLIENT_PAUSE_S,
        "machine": machine_info(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "phases": {},
    }
    error = None
    try:
        for mode in sorted(MODES, key=lambda mode: mode != "reload") if args.reload_first else MODES:
            print(f"\nphase {mode}: {MODES[mode]}: preparing the lab (untimed, no load)", flush=True)
            prepare_lab()
            loadavg = os.getloadavg()
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            log_offset = lb_error_log().stat().st_size if lb_error_log().exists() else 0
            with Load() as load:
                commands = run_phase(mode, switches, full=not args.quick, load=load)
            results["phases"][mode] = {
                "nginx_reloads": nginx_reloads_since(log_offset),
                "started": started,
                "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "loadavg_start": [round(value, 2) for value in loadavg],
                "loadavg_end": [round(value, 2) for value in os.getloadavg()],
                "clients": load.summary(),
                "commands": [asdict(item) for item in commands],
            }
        results["interpreter_and_imports_s"] = interpreter_and_imports()
        results["summary"] = summarise(results["phases"], results["interpreter_and_imports_s"])
        print()
        print_report(results["summary"], results["phases"])
        results["deploy_breakdown"] = print_deploy_steps(results["phases"])
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        error = str(exc)
        results["error"] = error
    finally:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "lab.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {RESULTS / 'lab.json'}", flush=True)
    if error:
        sys.exit(f"lab benchmark stopped: {error}")


if __name__ == "__main__":
    main()
