"""Where ghosttasks' fan-out time goes: ablations against raw Fabric, and CPU per connection.

    python bench/fanout_diagnose.py                 # N = 40, 10 interleaved repeats (~2 minutes)
    python bench/fanout_diagnose.py --n 20 --repeat 5

Runs `true` on N sshd-only hosts of its own (127.0.1.101.., stopped by PID at the end) with the executor as
shipped and with one of its costs switched off in this process only (monkeypatched; the library on disk is
unchanged), then measures client and sshd CPU per connection. Writes bench/results/fanout_diagnose-<stamp>.json.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import (
    SshdFarm,
    fmt_ms,
    fmt_s,
    fmt_x,
    ghost_environment,
    machine_info,
    median,
    print_table,
    ratio,
    stop_on_signals,
    write_results,
)
from fanout import run_fabric

FIRST_HOST = 101  # 127.0.1.101..: clear of fanout.py (1-40) and per_command.py (41)
SETTLE = 0.2


def ghost_run(spec: dict[str, Any], count: int, log_dir: Path, **off: bool) -> None:
    """One fan-out with the shipped executor, minus the costs named in `off` (patched for this call only)."""
    import invoke.runners
    import paramiko

    import ghosttasks.execution.executor as executor_module
    from ghosttasks.execution.ssh_executor import SSHExecutor
    from ghosttasks.terminal.output import Output
    from ghosttasks.terminal.runlog import RunLog

    saved = (executor_module.MAX_PARALLEL, paramiko.SSHClient.load_host_keys, invoke.runners.Runner.start_timer)
    parsed: dict[str, paramiko.HostKeys] = {}

    def load_once(client: paramiko.SSHClient, filename: str) -> None:
        if filename not in parsed:
            parsed[filename] = paramiko.HostKeys(filename)
        client._host_keys = parsed[filename]  # shared, read-only with RejectPolicy

    if off.get("cap"):
        executor_module.MAX_PARALLEL = 1000
    if off.get("parse"):
        paramiko.SSHClient.load_host_keys = load_once  # type: ignore[method-assign]
    if off.get("timer"):
        invoke.runners.Runner.start_timer = lambda self, timeout: None  # type: ignore[method-assign]
    try:
        env = ghost_environment(spec)
        sink = io.StringIO()
        log = None if off.get("log") else RunLog("bench.diagnose", uuid.uuid4().hex[:8], directory=log_dir)
        executor = SSHExecutor(env, Output(stream=sink, err_stream=sink), log)
        try:
            results = executor.run_parallel(env.hosts[:count], "true", stream=not off.get("log"))
        finally:
            executor.close()
            if log:
                log.close()
    finally:
        executor_module.MAX_PARALLEL, paramiko.SSHClient.load_host_keys, invoke.runners.Runner.start_timer = saved
    if not all(result.ok for result in results):
        raise RuntimeError([result.describe() for result in results if not result.ok])


def sshd_cpu(farm: SshdFarm) -> float:
    """CPU seconds of the farm's sshd listeners plus their reaped sessions (and the commands they ran)."""
    ticks = 0
    for host in farm.hosts:
        assert host.process is not None
        fields = Path(f"/proc/{host.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_of(run: Callable[[], None], farm: SshdFarm) -> tuple[float, float, float]:
    """(wall, client CPU, sshd CPU) seconds of one run."""
    time.sleep(SETTLE)
    before, server = resource.getrusage(resource.RUSAGE_SELF), sshd_cpu(farm)
    begin = time.perf_counter()
    run()
    wall = time.perf_counter() - begin
    time.sleep(0.5)  # sessions exit and are reaped
    after = resource.getrusage(resource.RUSAGE_SELF)
    client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, client, sshd_cpu(farm) - server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="hosts, default 40")
    parser.add_argument("--repeat", type=int, default=10, help="interleaved runs per variant, default 10")
    args = parser.parse_args()
    if not 1 <= args.n <= 100 or not 1 <= args.repeat <= 50:
        parser.error("n must be 1-100 and repeat 1-50")
    stop_on_signals()
    info = machine_info()
    print(f"fan-out diagnosis, {info['date_utc']}, {info['cpus']} CPUs, load {info['loadavg']}", flush=True)
    with SshdFarm(args.n, first=FIRST_HOST) as farm:
        spec, log_dir, n = farm.spec(), farm.directory / "runs", args.n
        variants: dict[str, Callable[[], None]] = {
            "ghosttasks as shipped": lambda: ghost_run(spec, n, log_dir),
            "known_hosts parsed once per run, not per host": lambda: ghost_run(spec, n, log_dir, parse=True),
            "no per-command timeout Timer thread": lambda: ghost_run(spec, n, log_dir, timer=True),
            "no MAX_PARALLEL=32 cap": lambda: ghost_run(spec, n, log_dir, cap=True),
            "no streamed output, no run log": lambda: ghost_run(spec, n, log_dir, log=True),
            "all four off": lambda: ghost_run(spec, n, log_dir, parse=True, timer=True, cap=True, log=True),
            "raw Fabric ThreadingGroup": lambda: run_fabric(spec, n),
        }
        for run in variants.values():  # warm-up
            run()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        shuffle = random.Random(5).shuffle
        for round_ in range(args.repeat):
            order = list(variants)
            shuffle(order)
            for name in order:
                time.sleep(SETTLE)
                begin = time.perf_counter()
                variants[name]()
                samples[name].append(time.perf_counter() - begin)
            print(f"repeat {round_ + 1}/{args.repeat} done", flush=True)
        cpu = {
            name: [cpu_of(variants[name], farm) for _ in range(5)]
            for name in ("ghosttasks as shipped", "raw Fabric ThreadingGroup")
        }
    fabric = median(samples["raw Fabric ThreadingGroup"])
    rows = [[name, fmt_s(median(values)), fmt_x(ratio(median(values), fabric))] for name, values in samples.items()]
    title = f"Ablations, `true` on N={n} hosts, median of {args.repeat}"
    tables = [print_table(title, ["variant", "median s", "vs raw Fabric"], rows)]
    cpu_rows = []
    for name, runs in cpu.items():
        wall, client, server = (median(run[i] for run in runs) for i in range(3))
        cpu_rows.append([name, fmt_s(wall), fmt_s(client), fmt_ms(client / n), fmt_s(server), fmt_ms(server / n)])
    columns = ["client", "wall s", "client CPU s", "client ms/host", "sshd CPU s", "sshd ms/conn"]
    tables.append(print_table(f"CPU of one run on N={n} hosts (median of 5; {os.cpu_count()} CPUs)", columns, cpu_rows))
    info["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    path = write_results(
        "fanout_diagnose",
        {"benchmark": "fanout_diagnose", "machine": info, "n": n, "samples": samples, "cpu": cpu, "tables": tables},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: benchmark hosts stopped", file=sys.stderr)
        sys.exit(130)
