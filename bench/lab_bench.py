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

The clients are bench/lab_load.py, the readings of the lab's records bench/lab_records.py, the summary and
tables bench/lab_report.py, the old switch bench/reload_switch.py.

    python3 bench/lab_bench.py             # 20 switches per phase, with deploy.prod and deploy.rollback
    python3 bench/lab_bench.py --quick     # 2 switches per phase and the emergency rollback, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib import fmt_s, machine_info
from lab_load import CLIENT_PAUSE_S, Load, watching_lb
from lab_records import (
    colour_running,
    lab_history,
    lab_state,
    lb_error_log,
    nginx_reloads_since,
    other,
    where_the_time_goes,
)
from lab_report import MODES, print_deploy_steps, print_report, summarise
from reload_switch import run_inv_with_reload_switch

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
RESULTS = ROOT / "bench" / "results"
RUNLOGS = RESULTS / "lab-runlogs"
ENV = {**os.environ, "GHOST_INVENTORY": str(ROOT / "lab" / "hosts.yml")}

OLDER, NEWER = "v1.1.0", "v1.3.0"  # good lab releases (lab/releases.py); NEWER is the one deploy.prod deploys
RELOAD_SHIM = "--inv-with-reload-switch"
BETWEEN_COMMANDS_S = 0.3  # idle keep-alive connections between two commands, as between real ones


def ghost_binary() -> str:
    """The `ghost` console script installed next to this Python (what an operator runs; no pyenv shim)."""
    candidate = Path(sys.executable).parent / "ghost"
    return str(candidate) if candidate.exists() else (shutil.which("ghost") or "ghost")


def inv_argv(args: list[str], mode: str = "flag") -> list[str]:
    """The command line of ARGS: the `ghost` script, or this script as the reload shim (Invoke's program with
    the old switch patched in)."""
    if mode == "reload":
        return [sys.executable, str(SCRIPT), RELOAD_SHIM, *args]
    return [ghost_binary(), *args]


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


# -- one command, timed until the LB answers from its target colour -----------------------------------------------


def timed_inv(args: list[str], colour: str | None, *, mode: str, log_dir: Path) -> tuple[float | None, float]:
    """(seconds from the command's start until the LB answers from `colour`, whole-command seconds)."""
    with watching_lb(colour) as watch:
        inv(args, mode=mode, log_dir=log_dir)
        total = time.monotonic() - watch.started
    return watch.seconds, total


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
        results["deploy_breakdown"] = print_deploy_steps(results["phases"], NEWER)
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
