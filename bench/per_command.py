"""Per-command overhead: 100 commands on one host through one ghosttasks executor.

    python bench/per_command.py                   # 100 commands, 3 repeats per variant
    python bench/per_command.py --commands 20 --repeat 1

Starts one sshd-only host of its own on 127.0.1.41:2222 (stopped by PID at the end). Counts the SSH
connections in that sshd's log (target: exactly one per executor) and times each command (target: median
<= 15 ms with TCP_NODELAY). Repeats with TCP_NODELAY switched back off on the executor's socket after it
opened (library code unchanged) to show what the option buys, and for information with Invoke's runner
polling every 1 ms instead of 10 ms. Writes bench/results/per_command-<stamp>.json.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import sys
import time
import uuid
from typing import Any

from benchlib import (
    SshdFarm,
    fmt_ms,
    ghost_environment,
    machine_info,
    median,
    print_table,
    stop_on_signals,
    verdict,
    write_results,
)

HOST_INDEX = 41  # 127.0.1.41: clear of fanout's 127.0.1.1-40 and of the lab's 127.0.0.10-17
TARGET_MS = 15.0
SHIPPED = "TCP_NODELAY on (as shipped)"
# name -> (TCP_NODELAY to set after the connection opened or None, Invoke runner poll interval or None)
VARIANTS: dict[str, tuple[int | None, float | None]] = {
    SHIPPED: (None, None),
    "TCP_NODELAY off (Nagle, reset after open)": (0, None),
    "info: Invoke poll 1 ms instead of 10 (not shipped)": (None, 0.001),
}


def one_run(farm: SshdFarm, commands: int, nodelay: int | None, poll: float | None = None) -> dict[str, Any]:
    """A fresh executor: open the connection, run `true` `commands` times, close; count sshd connections.

    nodelay: TCP_NODELAY value to set on the executor's socket after it opened (None: leave as shipped).
    poll: Invoke's Runner.input_sleep for this connection's runner (None: Invoke's 10 ms default).
    """
    from ghosttasks.execution.ssh_executor import SSHExecutor
    from ghosttasks.terminal.output import Output
    from ghosttasks.terminal.runlog import RunLog

    env = ghost_environment(farm.spec(), command_timeout=30)
    host = env.hosts[0]
    farm_host = farm.hosts[0]
    offset = farm_host.log_size()
    sink = io.StringIO()
    log = RunLog("bench.per-command", uuid.uuid4().hex[:8], directory=farm.directory / "runs")
    executor = SSHExecutor(env, Output(stream=sink, err_stream=sink), log)
    times: list[float] = []
    try:
        began = time.perf_counter()
        connection = executor.connections.get(host)
        handshake = time.perf_counter() - began
        sock = connection.transport.sock
        if nodelay is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
        observed = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        if poll is not None:
            base = connection.config.runners.remote
            connection.config.runners.remote = type("PollRemote", (base,), {"input_sleep": poll})
        for _ in range(commands):
            start = time.perf_counter()
            executor.run(host, "true", what="true")
            times.append(time.perf_counter() - start)
        total = time.perf_counter() - began
    finally:
        executor.close()
        log.close()
    time.sleep(0.2)  # let sshd flush its log
    return {
        "handshake": handshake,
        "total": total,
        "times": times,
        "tcp_nodelay": observed,
        "connections": farm_host.connections_since(offset),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=100, help="commands per executor, default 100")
    parser.add_argument("--repeat", type=int, default=3, help="executors per variant (interleaved), default 3")
    args = parser.parse_args()
    if not 1 <= args.commands <= 1000 or not 1 <= args.repeat <= 20:
        parser.error("commands must be 1-1000 and repeat 1-20")
    stop_on_signals()
    info = machine_info()
    print(f"per-command benchmark, {info['date_utc']}, {info['cpus']} CPUs, load {info['loadavg']}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with SshdFarm(1, first=HOST_INDEX) as farm:
        one_run(farm, 3, None)  # warm-up: imports and the first handshake, not counted
        names = list(VARIANTS)
        for round_ in range(args.repeat):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                runs[name].append(one_run(farm, args.commands, *VARIANTS[name]))
            print(f"repeat {round_ + 1}/{args.repeat} done", flush=True)
    rows, summary = [], {}
    for name, results in runs.items():
        every = [t for result in results for t in result["times"]]
        per_run_medians = [statistics.median(result["times"]) for result in results]
        p95 = statistics.quantiles(every, n=20)[-1] if len(every) >= 20 else max(every)
        connections = [result["connections"] for result in results]
        summary[name] = {
            "median_per_command": median(per_run_medians),
            "mean_per_command": statistics.fmean(every),
            "p95_per_command": p95,
            "handshake": median(result["handshake"] for result in results),
            "total": median(result["total"] for result in results),
            "connections_per_executor": connections,
            "tcp_nodelay": [result["tcp_nodelay"] for result in results],
        }
        rows.append(
            [
                name,
                fmt_ms(summary[name]["median_per_command"]),
                fmt_ms(summary[name]["mean_per_command"]),
                fmt_ms(p95),
                fmt_ms(summary[name]["handshake"]),
                f"{summary[name]['total']:.2f}",
                ", ".join(str(count) for count in connections),
            ]
        )
    columns = ["variant", "median ms/cmd", "mean ms/cmd", "p95 ms", "handshake ms", f"total s ({args.commands})"]
    tables = [print_table(f"{args.commands} x `true` on one host, one executor", [*columns, "SSH connections"], rows)]
    shipped = summary[SHIPPED]
    one_connection = all(count == 1 for count in shipped["connections_per_executor"])
    fast = shipped["median_per_command"] is not None and shipped["median_per_command"] * 1000 <= TARGET_MS
    targets = [
        ["exactly one SSH connection per executor", str(shipped["connections_per_executor"]), verdict(one_connection)],
        [f"<= {TARGET_MS:g} ms per command (median)", fmt_ms(shipped["median_per_command"]), verdict(fast)],
    ]
    tables.append(print_table("Targets (issue 5)", ["target", "measured", "verdict"], targets))
    info["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    path = write_results(
        "per_command",
        {
            "benchmark": "per_command",
            "machine": info,
            "commands": args.commands,
            "repeat": args.repeat,
            "summary": summary,
            "samples": {name: [result["times"] for result in results] for name, results in runs.items()},
            "targets": [{"target": t, "measured": m, "met": v == "met"} for t, m, v in targets],
            "tables": tables,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: benchmark host stopped", file=sys.stderr)
        sys.exit(130)
