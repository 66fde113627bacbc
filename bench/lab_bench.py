"""Lab benchmarks: traffic switch and emergency rollback latency, zero downtime, deploy step breakdown.

Needs the lab (it brings it up with lab.labctl.up() and leaves it running; `inv lab.down` stops it).
Prints tables and writes bench/results/lab.json.

    python3 bench/lab_bench.py             # 5 switches, 3 emergency rollbacks, 10 switches under load
    python3 bench/lab_bench.py --quick     # 2 / 1 / 2, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LB_HEALTH = "http://127.0.0.10/api/v1/health"
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "GHOST_INVENTORY": str(ROOT / "lab" / "hosts.yml")}


def inv(*args: str, log_dir: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = {**ENV, **({"GHOST_LOG_DIR": str(log_dir)} if log_dir else {})}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        raise SystemExit(f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - started, result


def lb_color(client: httpx.Client) -> str | None:
    try:
        return client.get(LB_HEALTH).json().get("color")
    except (httpx.HTTPError, ValueError):
        return None


def time_until_lb_answers(color: str, command: list[str], log_dir: Path) -> tuple[float, float]:
    """(seconds from the command's start until the LB answers from `color`, total command seconds)."""
    seen: list[float] = []
    stop = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        with httpx.Client(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not stop.is_set() and time.monotonic() - started < 120:
                if lb_color(client) == color:
                    seen.append(time.monotonic() - started)
                    return
                time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    total, _ = inv(*command, log_dir=log_dir)
    watcher.join(timeout=30)
    stop.set()
    return (seen[0] if seen else float("nan")), total


def where_the_time_goes(log_dir: Path) -> dict[str, float]:
    """Median seconds per kind of remote step, from the run logs (every command with its duration)."""
    kinds: dict[str, list[float]] = {}
    for path in log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            command = event.get("command", "") or event.get("path", "")
            kind = (
                "nginx reload"
                if "-s reload" in command
                else "nginx -t"
                if " -t " in command
                else "upload"
                if event["event"] == "upload"
                else "read state"
                if "state.json" in command and command.startswith("cat")
                else "lock"
                if "/lock" in command
                else "history"
                if "history.jsonl" in command
                else "other remote"
            )
            kinds.setdefault(kind, []).append(event["duration"])
    return {kind: round(statistics.median(values), 4) for kind, values in sorted(kinds.items())}


def interpreter_and_imports() -> float:
    """Median seconds for `python -c 'import ghosttasks.tasks'` (before any connection)."""
    samples = []
    for _ in range(5):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import ghosttasks.flows.blue_green"], cwd=ROOT, check=True)
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


@dataclass
class Load:
    """Three bounded client kinds through the LB: new connections; keep-alive retrying once; keep-alive raw."""

    max_seconds: float = 600
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "keepalive_retry": 0, "keepalive_raw": 0})
    failures: dict[str, int] = field(default_factory=lambda: {"new": 0, "keepalive_retry": 0, "keepalive_raw": 0})

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(kind,)) for kind in self.counts]

    def _loop(self, kind: str) -> None:
        deadline = time.monotonic() + self.max_seconds
        keep = 0 if kind == "new" else 10
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=keep)) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.counts[kind] += 1
                attempts = 2 if kind == "keepalive_retry" else 1  # RFC 9110: a GET may be retried once
                for attempt in range(attempts):
                    try:
                        if client.get(LB_HEALTH).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if attempt == attempts - 1:
                        self.failures[kind] += 1
                time.sleep(0.005)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def ensure_two_colours() -> None:
    """Both colours deployed (v1.0.0 and v1.1.0), so switches have somewhere to go."""
    _, status = inv("deploy.status", "--json")
    state = json.loads(status.stdout)
    if state["lock"]:
        inv("deploy.unlock", "--force")
    versions = {color: info["version"] for color, info in state["colors"].items() if not info["failed_version"]}
    if versions.get("blue") and versions.get("green"):
        return
    for version in ("v1.0.0", "v1.1.0"):
        inv("deploy.prod", "--version", version, "--monitor-minutes", "0", "--yes")


def table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, for a smoke run")
    args = parser.parse_args()
    switches, emergencies, loaded_switches = (2, 1, 2) if args.quick else (5, 3, 10)
    sys.path.insert(0, str(ROOT))
    from lab import labctl

    labctl.up(quiet=True)
    ensure_two_colours()
    logs = RESULTS / "lab-runlogs"
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "quick": args.quick}

    # 1. traffic.switch and emergency rollback latency
    switch_logs, emergency_logs = logs / "switch", logs / "emergency"
    switch_samples, emergency_samples = [], []
    for _ in range(switches):
        _, status = inv("deploy.status", "--json")
        target = "blue" if json.loads(status.stdout)["active"] == "green" else "green"
        switch_samples.append(time_until_lb_answers(target, ["traffic.switch", target, "--yes"], switch_logs))
    for _ in range(emergencies):
        _, status = inv("deploy.status", "--json")
        target = "blue" if json.loads(status.stdout)["active"] == "green" else "green"
        emergency_samples.append(
            time_until_lb_answers(target, ["deploy.emergency-rollback", "--reason", "benchmark"], emergency_logs)
        )
        inv("deploy.unlock", "--force")
    latency = {
        "traffic.switch": {
            "lb_answers_new_colour_s": statistics.median(s[0] for s in switch_samples),
            "command_total_s": statistics.median(s[1] for s in switch_samples),
            "remote_steps_median_s": where_the_time_goes(switch_logs),
        },
        "deploy.emergency-rollback": {
            "lb_answers_new_colour_s": statistics.median(s[0] for s in emergency_samples),
            "command_total_s": statistics.median(s[1] for s in emergency_samples),
            "remote_steps_median_s": where_the_time_goes(emergency_logs),
        },
        "interpreter_and_imports_s": interpreter_and_imports(),
    }
    results["latency"] = latency
    for name in ("traffic.switch", "deploy.emergency-rollback"):
        item = latency[name]
        table(
            f"{name} (median of {switches if name == 'traffic.switch' else emergencies}; target < 1 s)",
            [
                ("LB answers from the other colour", f"{item['lb_answers_new_colour_s']:.3f} s"),
                ("whole command", f"{item['command_total_s']:.3f} s"),
                *[(f"  {kind}", f"{seconds * 1000:.1f} ms") for kind, seconds in item["remote_steps_median_s"].items()],
            ],
        )
    print(f"  interpreter start + imports: {latency['interpreter_and_imports_s'] * 1000:.0f} ms")

    # 2. zero downtime: a full deploy.prod and N switches under three kinds of clients
    downtime = {}
    with Load() as load:
        inv("deploy.prod", "--version", "v1.1.0", "--monitor-minutes", "0", "--yes")
    downtime["deploy.prod"] = {"requests": dict(load.counts), "failed": dict(load.failures)}
    with Load() as load:
        for _ in range(loaded_switches):
            _, status = inv("deploy.status", "--json")
            target = "blue" if json.loads(status.stdout)["active"] == "green" else "green"
            inv("traffic.switch", target, "--yes")
    downtime[f"{loaded_switches} switches"] = {"requests": dict(load.counts), "failed": dict(load.failures)}
    results["zero_downtime"] = downtime
    for name, item in downtime.items():
        table(
            f"zero downtime during {name} (failed / requests; target 0 for new and retrying clients)",
            [(kind, f"{item['failed'][kind]} / {item['requests'][kind]}") for kind in item["requests"]],
        )

    # 3. deploy breakdown from the history record of that deploy
    _, history = inv("deploy.history", "--json", "--limit", "20")
    deploys = [entry for entry in json.loads(history.stdout) if entry["task"] == "deploy.prod" and entry["steps"]]
    last = deploys[-1]
    results["deploy_breakdown"] = {"total_s": last["seconds"], "steps": last["steps"]}
    table(
        f"deploy.prod {last['version']} step timings (total {last['seconds']:.1f} s)",
        [(step["name"], f"{step['seconds']:.2f} s") for step in sorted(last["steps"], key=lambda s: -s["seconds"])],
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lab.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {RESULTS / 'lab.json'}")


if __name__ == "__main__":
    main()
