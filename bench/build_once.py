"""Deploy breakdown with 2 app hosts, build on each host against build once (issues 14 and 26), on the flat lab.

    1. `images.build: on-hosts` (a copy of lab/hosts.yml): deploy v1.0.0 (warm-up), then v1.1.0      <- before
    2. remove v1.1.0's images and the build cache on both app hosts
    3. `images.build: once` (lab/hosts.yml as generated): deploy v1.1.0 into the other colour          <- first
       (the first push to an empty registry: the base image's layers go up, app2 pulls them the first time)
    4. `images.build: once`: deploy v1.3.0 (never built anywhere) into the other colour again          <- later

"before" and "later" are each the first build of a version with a migration to run; "later" is what every
build-once deploy after the first costs (issue 26's target: within 1.3x of "before"), "first" what the first one
does once. Per-step timings come from the history records (history.jsonl on the LB), the build, push and pull
commands' durations per host from the run logs, image sizes from each engine and the registry's disk.
Needs a fresh flat lab (`inv lab.up`; nothing deployed, an empty registry); leaves it up. Prints Markdown tables
and writes bench/results/build-once-<UTC stamp>.json.

    python3 bench/build_once.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine_info, print_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab import labctl  # noqa: E402

APP_HOSTS = ("app1", "app2")
ARGS = ("--monitor-minutes", "0", "--yes")


def inv(inventory: Path, logs: Path, *args: str) -> None:
    env = {**os.environ, "GHOST_INVENTORY": str(inventory), "GHOST_LOG_DIR": str(logs)}
    started = time.monotonic()
    ghost = Path(sys.executable).with_name("ghost")  # the entry point an operator runs
    result = subprocess.run([str(ghost), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"ghost {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    print(f"ghost {' '.join(args)}: {time.monotonic() - started:.1f} s", file=sys.stderr)


def docker(lay, host: str, *args: str) -> str:
    env = {**os.environ, **lay.docker_env(host)}
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=True).stdout


def last_deploy(lay) -> dict:
    lines = (lay.lb_state_dir / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"deploy.prod"' in line][-1]


def image_commands(logs: Path) -> list[dict]:
    """build / push / pull commands of the newest run log: host, what, seconds."""
    newest = max(logs.glob("*deploy-prod*.log"), key=lambda path: path.stat().st_mtime)
    found = []
    for line in newest.read_text().splitlines():
        event = json.loads(line)
        command = event.get("command", "")
        if event.get("event") != "command":
            continue
        kind = next((k for k in ("build api web", "docker push", "docker pull") if k in command), None)
        if kind:
            what = "build" if kind.startswith("build") else kind.split()[-1]
            found.append({"host": event["host"], "what": what, "seconds": event["duration"]})
    return found


def main() -> None:
    lay = labctl.layout()
    if (lay.lb_state_dir / "state.json").exists():
        sys.exit("bench/build_once.py needs a fresh lab (nothing deployed): inv lab.down && inv lab.up")
    once = labctl.inventory_path()
    work = Path(tempfile.mkdtemp(prefix="build-once-"))
    on_hosts = work / "hosts-on-hosts.yml"
    on_hosts.write_text(once.read_text().replace("      build: once\n", "      build: on-hosts\n"))
    results: dict = {"machine": machine_info()}

    inv(on_hosts, work / "runs-before", "deploy.prod", "--version", "v1.0.0", *ARGS)
    inv(on_hosts, work / "runs-before", "deploy.prod", "--version", "v1.1.0", *ARGS)
    results["before"] = {"history": last_deploy(lay), "commands": image_commands(work / "runs-before")}
    for host in APP_HOSTS:
        # --force: green still runs them (the image stays for its containers, untagged)
        docker(lay, host, "image", "rm", "--force", "ghostworks-api:v1.1.0", "ghostworks-web:v1.1.0")
        docker(lay, host, "builder", "prune", "--all", "--force")
    inv(once, work / "runs-first", "deploy.prod", "--version", "v1.1.0", *ARGS)
    results["first"] = {"history": last_deploy(lay), "commands": image_commands(work / "runs-first")}
    inv(once, work / "runs-later", "deploy.prod", "--version", "v1.3.0", *ARGS)
    results["later"] = {"history": last_deploy(lay), "commands": image_commands(work / "runs-later")}

    sizes = {
        "base": int(docker(lay, "app1", "image", "inspect", "--format", "{{.Size}}", "ghostlab-base:latest")),
        "api": int(docker(lay, "app1", "image", "inspect", "--format", "{{.Size}}", "ghostworks-api:v1.1.0")),
        "registry_kib": int(
            subprocess.run(
                ["du", "-sk", str(lay.registry_dir / "data")], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        ),
    }
    results["sizes"] = sizes

    runs = ("before", "first", "later")
    histories = {k: results[k]["history"] for k in runs}
    steps = list(dict.fromkeys(step["name"].split()[0] for k in runs for step in histories[k]["steps"]))
    rows = []
    for name in steps:
        row = [name]
        for k in runs:
            found = [s["seconds"] for s in histories[k]["steps"] if s["name"].split()[0] == name]
            row.append(f"{sum(found):.2f}" if found else "-")
        rows.append(row)
    rows.append(["total (history `seconds`)", *(f"{histories[k]['seconds']:.2f}" for k in runs)])
    print_table(
        "deploy.prod, steps (seconds; steps of one kind summed, by their first word)",
        ["step", "on-hosts v1.1.0 (before)", "once v1.1.0 (first)", "once v1.3.0 (later)"],
        rows,
    )
    ratio = histories["later"]["seconds"] / histories["before"]["seconds"]
    results["later_over_before"] = round(ratio, 3)
    print(f"\nlater / before: {ratio:.2f}x (issue 26's target: within 1.3x)")
    rows = [[k, c["host"], c["what"], f"{c['seconds']:.2f}"] for k in runs for c in results[k]["commands"]]
    print_table("image commands (seconds, run logs)", ["run", "host", "what", "s"], rows)
    print_table(
        "sizes",
        ["what", "MB"],
        [
            ["ghostlab-base (docker image inspect Size)", f"{sizes['base'] / 1e6:.1f}"],
            ["ghostworks-api:v1.1.0 (Size, base included)", f"{sizes['api'] / 1e6:.1f}"],
            ["registry storage after the pushes (du)", f"{sizes['registry_kib'] * 1024 / 1e6:.1f}"],
        ],
    )
    out = ROOT / "bench" / "results" / f"build-once-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
