"""The targets of issue 26 measured with one command, and docs/performance.md's summary table written from them.

What it measures (medians of --repeat runs, 20 by default; every command is the `ghost` console script next to this
Python, as an operator runs it, with bytecode cached as an installed package has it):

- local, no lab: `ghost --list`, `ghost --help deploy.prod` (interleaved, with `python -c pass` for the
  interpreter's own start), a dry run of `deploy.prod` against the shipped hosts.yml;
- on the flat lab (brought up when it is not; OLDER and NEWER running, traffic on OLDER's colour, untimed):
  `traffic.switch` alternating colours (whole command, and from its start until the LB answers from the new colour,
  polled on new connections every 5 ms), `deploy.emergency-rollback` (the same two figures; each is followed by an
  untimed `deploy.unlock --force`), and `deploy.prod` of an already-built version without monitoring (NEWER and
  OLDER alternately, each into the colour that already ran it: images and worktrees exist; --deploys runs);
- on the same lab with prod declaring its second LB too (lb2, 127.0.0.21: its own sshd, nginx and files; set up once
  by an untimed `traffic.install`): `deploy.emergency-rollback` whole, and until the first LB answers from the
  previous colour (the command itself verifies both before it ends).

Not measured here: build once against build on each host (bench/build_once.py), fan-out against raw Fabric
(bench/fanout.py, bench/run_all.sh), the CI's duration (.ci/run).

    flock /tmp/ghostlab.lock python3 bench/targets.py          # everything (about 7 minutes here)
    python3 bench/targets.py --no-lab                           # the start-up rows only
    python3 bench/targets.py --repeat 5 --deploys 2 --no-write  # quick, docs/performance.md untouched

Prints the table, writes every sample, the per-step medians from the history and the load to
bench/results/targets-<UTC stamp>.json, and (unless --no-write) rewrites the table between the markers in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from benchlib import ROOT, fmt_s, machine_info, markdown_table, write_results
from lab_load import watching_lb
from lab_records import colour_running, lab_history, lab_state, other

GHOST = Path(sys.executable).with_name("ghost")
OLDER, NEWER = "v1.1.0", "v1.3.0"  # good lab releases (lab/releases.py), as bench/lab_bench.py uses them
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- targets:begin (bench/targets.py writes this table) -->", "<!-- targets:end -->"
#: bytecode cached (an installed package has it; PYTHONDONTWRITEBYTECODE would compile ghosttasks on every start)
LOCAL_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
#: this checkout's code, whichever checkout `pip install -e` last pointed `ghost` at
LOCAL_ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), LOCAL_ENV.get("PYTHONPATH")]))
LAB_ENV = {**LOCAL_ENV, "GHOST_INVENTORY": str(ROOT / "lab" / "hosts.yml")}
LB2 = {"name": "lb2", "address": "127.0.0.21", "roles": ["lb"]}  # the lab's second LB (lab/labctl/hosts.py)
SHIPPED_ENV = {**LOCAL_ENV, "GHOST_INVENTORY": str(ROOT / "hosts.yml")}


def run(argv: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one command (timeout 900 s); an unexpected exit code raises with its output."""
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    if result.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return seconds


def ghost(*args: str) -> list[str]:
    return [str(GHOST), *args]


# -- start-up ----------------------------------------------------------------------------------------------------


def startup(repeat: int) -> dict[str, list[float]]:
    """Interleaved runs of each start-up command (one untimed warm-up each, which also writes the bytecode)."""
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], LOCAL_ENV),
        "ghost --list": (ghost("--list"), LOCAL_ENV),
        "ghost --help deploy.prod": (ghost("--help", "deploy.prod"), LOCAL_ENV),
        "ghost deploy.prod --dry-run": (ghost("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"), SHIPPED_ENV),
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv, env in commands.values():
        run(argv, env)
    for _ in range(repeat):
        for name, (argv, env) in commands.items():
            samples[name].append(run(argv, env))
    return samples


# -- the lab -----------------------------------------------------------------------------------------------------


def prepare_lab() -> None:
    """Untimed: OLDER in one colour and NEWER in the other, the database at NEWER's head, no lock, traffic on
    OLDER's colour."""
    state = lab_state()
    if state["lock"]:
        run(ghost("deploy.unlock", "--force"), LAB_ENV)
    for version in (OLDER, NEWER):
        if colour_running(state, version) is None:
            run(ghost("deploy.prod", "--version", version, "--yes", "--monitor-minutes", "0"), LAB_ENV)
            state = lab_state()
    head = state.get("version_heads", {}).get(NEWER)
    if head and state.get("database_revision") != head:
        run(ghost("db.upgrade", "-r", head, "--yes"), LAB_ENV)
        state = lab_state()
    older = colour_running(state, OLDER)
    if older is None or colour_running(state, NEWER) is None:
        raise RuntimeError(f"the lab should run {OLDER} and {NEWER}, it runs {state.get('colors')}")
    if state["active"] != older:
        run(ghost("traffic.switch", older, "--yes"), LAB_ENV)


def timed(args: list[str], colour: str | None, env: dict[str, str] = LAB_ENV) -> tuple[float, float | None]:
    """(whole-command seconds, seconds from its start until the LB answers from `colour`)."""
    with watching_lb(colour) as watch:
        whole = run(ghost(*args), env)
    return whole, watch.seconds


def emergency_rollbacks(repeat: int, env: dict[str, str]) -> tuple[list[float], list[float | None]]:
    """`repeat` emergency rollbacks, each to the recorded previous colour and followed by an untimed unlock: (whole
    seconds, seconds until the LB answers from the previous colour)."""
    whole, lb = [], []
    for _ in range(repeat):
        target = lab_state()["previous"]
        seconds, moved = timed(["deploy.emergency-rollback", "--reason", "bench/targets.py"], target, env)
        whole.append(seconds)
        lb.append(moved)
        run(ghost("deploy.unlock", "--force"), env)
        time.sleep(0.3)
    return whole, lb


def two_lb_env() -> dict[str, str]:
    """The environment of a `ghost` whose prod declares lb2 beside lb (an inventory written under bench/results)."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    hosts = data["environments"]["prod"]["hosts"]
    after_lb = next(index for index, host in enumerate(hosts) if "lb" in host["roles"]) + 1
    hosts.insert(after_lb, LB2)
    path = ROOT / "bench" / "results" / "hosts-two-lbs.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return {**LOCAL_ENV, "GHOST_INVENTORY": str(path)}


def lab(repeat: int, deploys: int) -> dict[str, Any]:
    """The switch, the emergency rollback and deploy.prod, each `repeat` (deploys: `deploys`) times."""
    prepare_lab()
    first_entry = len(lab_history())
    out: dict[str, Any] = {"switch": [], "switch_lb": [], "deploy": []}
    for _ in range(repeat):
        target = other(lab_state()["active"])
        whole, lb = timed(["traffic.switch", target, "--yes"], target)
        out["switch"].append(whole)
        out["switch_lb"].append(lb)
        time.sleep(0.3)
    out["emergency"], out["emergency_lb"] = emergency_rollbacks(repeat, LAB_ENV)
    two_lbs = two_lb_env()
    run(ghost("traffic.install", "--yes"), two_lbs)
    out["emergency_two_lbs"], out["emergency_two_lbs_lb"] = emergency_rollbacks(repeat, two_lbs)
    prepare_lab()
    for index in range(deploys):
        version = NEWER if index % 2 == 0 else OLDER  # into the idle colour, which already ran it
        out["deploy"].append(timed(["deploy.prod", "--version", version, "--yes", "--monitor-minutes", "0"], None)[0])
    prepare_lab()
    out["steps"] = step_medians(lab_history()[first_entry:])
    return out


def step_medians(entries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per task, the median seconds of each step and of the whole run, from the history the commands wrote."""
    by_task: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        task = entry.get("task") or entry.get("command") or "?"
        if entry.get("seconds") is not None:
            by_task[task]["(history seconds)"].append(entry["seconds"])
        for step in entry.get("steps") or []:
            by_task[task][step["name"]].append(step["seconds"])
    return {
        task: {name: round(statistics.median(values), 3) for name, values in steps.items()}
        for task, steps in by_task.items()
    }


# -- the table ---------------------------------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def row(target: str, limit: float, values: list[float | None], note: str = "") -> list[str]:
    value = median(values)
    present = [v for v in values if v is not None]
    measured = f"median {fmt_s(value)} s, max {fmt_s(max(present))} s ({len(present)} runs{note})" if present else "-"
    verdict = "n/a" if value is None else ("met" if value < limit else "NOT met")
    return [target, measured, verdict]


def table(start: dict[str, list[float]], measured: dict[str, Any] | None) -> str:
    rows = [
        row("`ghost --list` < 0.25 s", 0.25, start["ghost --list"]),
        row("`ghost --help deploy.prod` < 0.25 s", 0.25, start["ghost --help deploy.prod"]),
        row("dry run of `deploy.prod` < 0.6 s", 0.6, start["ghost deploy.prod --dry-run"]),
        ["(information) `python -c pass`, the interpreter alone", row("", 0, start["python -c pass"])[1], "-"],
    ]
    if measured:
        rollback_lb = row("", 0, measured["emergency_lb"])[1]
        two_lbs_lb = row("", 0, measured["emergency_two_lbs_lb"])[1]
        watched = measured["switch_lb"] + measured["emergency_lb"] + measured["emergency_two_lbs_lb"]
        missing = sum(value is None for value in watched)
        rows += [
            row("`traffic.switch` whole command < 1.0 s", 1.0, measured["switch"]),
            row("`traffic.switch`: the LB on the new colour < 0.5 s after the start", 0.5, measured["switch_lb"]),
            row("`deploy.emergency-rollback` whole command < 0.7 s (one LB)", 0.7, measured["emergency"]),
            ["(information) emergency rollback: the LB on the previous colour", rollback_lb, "-"],
            row("`deploy.emergency-rollback` whole command < 1.0 s (two LBs)", 1.0, measured["emergency_two_lbs"]),
            ["(information) emergency rollback, two LBs: the first LB on the previous colour", two_lbs_lb, "-"],
            row("`deploy.prod` of a built version, 2 app hosts, no monitoring < 6 s", 6.0, measured["deploy"]),
        ]
        if missing:
            rows.append(["(runs where the LB never answered from the target, 5 s after)", f"{missing} runs", "-"])
    return markdown_table(["target (issue 26)", "measured", "verdict"], rows)


def write_doc(text: str, conditions: str) -> None:
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        raise RuntimeError(f"{DOC} has no {BEGIN} ... {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{conditions}\n\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per start-up command, switch and rollback")
    parser.add_argument("--deploys", type=int, default=20, help="deploy.prod runs (each about 6 s here)")
    parser.add_argument("--no-lab", action="store_true", help="only the start-up rows (no lab needed)")
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md as it is")
    args = parser.parse_args()
    if not GHOST.exists():
        sys.exit(f"{GHOST} is missing: pip install -e . first")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    results: dict[str, Any] = {"benchmark": "targets", "machine": machine_info(), "repeat": args.repeat}
    results["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print("start-up (no lab) ...", flush=True)
    results["startup"] = start = startup(args.repeat)
    measured = None
    if not args.no_lab:
        from lab import labctl

        labctl.up(quiet=True)
        print("the lab: switches, emergency rollbacks, deploys ...", flush=True)
        results["lab_loadavg_start"] = [round(value, 2) for value in os.getloadavg()]
        results["lab"] = measured = lab(args.repeat, args.deploys)
    results["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    text = table(start, measured)
    path = write_results("targets", results)
    conditions = (
        f"`python3 bench/targets.py` at {results['commit']}, {results['machine']['date_utc']}, "
        f"{results['machine']['cpus']} CPUs, load average (1 min) {results['machine']['loadavg'][0]} at the start "
        f"and {results['loadavg_end'][0]} at the end; samples in `bench/results/{path.name}`."
    )
    print(f"\n{conditions}\n\n{text}")
    if measured:
        for task, steps in measured["steps"].items():
            print(f"\n{task}: median seconds per step")
            print(markdown_table(["step", "s"], [[name, f"{value:.3f}"] for name, value in steps.items()]))
    if not args.no_write:
        write_doc(text, conditions)
        print(f"\nwrote the summary table into {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
