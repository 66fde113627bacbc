"""Fan-out: `true` on N sshd-only hosts with ghosttasks, raw Fabric, Ansible and parallel-ssh, interleaved.

    python bench/fanout.py                      # N = 1 5 10 20 40, 5 repeats (~13 min on 2 busy CPUs)
    python bench/fanout.py --sizes 1 5 --repeat 2

Starts its own sshd hosts on 127.0.1.1-127.0.1.40:2222 (stopped by PID at the end, also on Ctrl-C),
prints median wall times and ratios, and writes bench/results/fanout-<stamp>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH_DIR,
    SshdFarm,
    fmt_s,
    fmt_x,
    ghost_environment,
    machine_info,
    median,
    print_table,
    ratio,
    stop_on_signals,
    verdict,
    write_results,
)

SIZES = [1, 5, 10, 20, 40]
MAX_HOSTS = 40
RUN_TIMEOUT = 120.0  # seconds, any single run
SETTLE = 0.2  # seconds between runs (untimed): the previous run's sshd sessions finish exiting
ANSIBLE_VENV = BENCH_DIR / ".venv-ansible"

TOOLS = {
    "ghosttasks": "SSHExecutor.run_parallel in-process (host keys checked, masking, prefixed output, run log)",
    "fabric": "raw Fabric ThreadingGroup.run, in-process (AutoAddPolicy, no host-key check)",
    "ghosttasks-proc": "ghosttasks as above in a new Python process (interpreter start + imports included)",
    "fabric-proc": "raw Fabric as above in a new Python process (interpreter start + imports included)",
    "ansible": "ansible ad-hoc, defaults (command module, forks=5, ControlPersist=60s, no pipelining)",
    "ansible-raw": "ansible ad-hoc -m raw (otherwise defaults)",
    "ansible-forks": "ansible ad-hoc, command module with -f N (informational: defaults but all hosts at once)",
    "pssh": "parallel-ssh (Debian pssh) -p N (all hosts at once; OpenSSH client, no multiplexing)",
}
DEFAULT_TOOLS = list(TOOLS)


# -- the clients -------------------------------------------------------------------------------------------------


def run_ghosttasks(spec: dict[str, Any], count: int, log_dir: Path) -> None:
    """A fresh executor per run, as a task would build it: Output (masked, host-prefixed), RunLog, SSHExecutor."""
    from ghosttasks.execution.ssh_executor import SSHExecutor
    from ghosttasks.terminal.output import Output
    from ghosttasks.terminal.runlog import RunLog

    env = ghost_environment(spec)
    sink = io.StringIO()
    log = RunLog("bench.fanout", uuid.uuid4().hex[:8], directory=log_dir)
    executor = SSHExecutor(env, Output(stream=sink, err_stream=sink), log)
    try:
        results = executor.run_parallel(env.hosts[:count], "true", stream=True, what="true")
    finally:
        executor.close()
        log.close()
    if len(results) != count or not all(result.ok for result in results):
        raise RuntimeError(f"ghosttasks: {[result.describe() for result in results if not result.ok]}")


def run_fabric(spec: dict[str, Any], count: int) -> None:
    """Raw Fabric: a ThreadingGroup with the same key, defaults otherwise."""
    from fabric import ThreadingGroup

    group = ThreadingGroup(
        *spec["addresses"][:count],
        user=spec["user"],
        port=spec["port"],
        connect_kwargs={"key_filename": spec["key_file"], "look_for_keys": False, "allow_agent": False},
    )
    try:
        results = group.run("true", hide=True)
    finally:
        group.close()
    if len(results) != count:
        raise RuntimeError(f"fabric: {len(results)} results for {count} hosts")


def ensure_ansible(install: bool) -> str | None:
    """The ansible binary: bench/.venv-ansible (made with pip on first use), else one on PATH."""
    binary = ANSIBLE_VENV / "bin" / "ansible"
    if binary.exists():
        return str(binary)
    if shutil.which("ansible"):
        return shutil.which("ansible")
    if not install:
        return None
    print(f"installing ansible-core into {ANSIBLE_VENV} (pip) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
    pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "ansible-core"]
    return str(binary) if subprocess.run(pip, check=False).returncode == 0 and binary.exists() else None


def ensure_pssh(install: bool) -> str | None:
    """parallel-ssh from Debian's pssh package (apt-get install -y pssh on first use)."""
    if shutil.which("parallel-ssh") or not install:
        return shutil.which("parallel-ssh")
    print("installing pssh (apt-get install -y pssh) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "pssh"], check=False, stdout=subprocess.DEVNULL)
    return shutil.which("parallel-ssh")


class External:
    """Command-line clients (Ansible, pssh, a child Python) run as processes; output goes to a file."""

    def __init__(self, farm: SshdFarm, sizes: list[int], ansible: str | None, pssh: str | None) -> None:
        self.farm, self.ansible, self.pssh = farm, ansible, pssh
        self.work = farm.directory / "clients"
        self.work.mkdir()
        spec = farm.spec()
        self.spec_file = self.work / "spec.json"
        self.spec_file.write_text(json.dumps(spec))
        groups = []
        for size in sizes:
            groups.append(f"[n{size}]")
            groups.extend(spec["addresses"][:size])
            (self.work / f"pssh-hosts-{size}").write_text(
                "".join(f"{spec['user']}@{address}:{spec['port']}\n" for address in spec["addresses"][:size])
            )
        common = f"-o UserKnownHostsFile={spec['known_hosts']}"
        groups += [
            "[all:vars]",
            f"ansible_user={spec['user']}",
            f"ansible_port={spec['port']}",
            f"ansible_ssh_private_key_file={spec['key_file']}",
            f"ansible_ssh_common_args='{common}'",
        ]
        self.inventory = self.work / "inventory.ini"
        self.inventory.write_text("\n".join(groups) + "\n")
        self.runs = 0

    def _run(self, argv: list[str], env: dict[str, str] | None = None, expect: tuple[str, int] | None = None) -> None:
        self.runs += 1
        output = self.work / f"out-{self.runs}.txt"
        with output.open("w") as handle:
            code = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=self.work, env=env,
                timeout=RUN_TIMEOUT, check=False,
            ).returncode  # fmt: skip
        text = output.read_text()
        found = text.count(expect[0]) if expect else None
        if code != 0 or (expect and found != expect[1]):
            raise RuntimeError(f"{argv[0]} exited {code} ({found} of {expect}):\n{text[-1500:]}")
        output.unlink()

    def child(self, tool: str, count: int) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", tool, "--spec", str(self.spec_file)]
        self._run([*argv, "--count", str(count), "--log-dir", str(self.work / "runs")])

    def ansible_run(self, count: int, *, raw: bool = False, forks: bool = False) -> Callable[[], None]:
        """One ad-hoc run with a fresh ControlPath dir; returns the cleanup that closes its ControlPersist masters."""
        assert self.ansible is not None
        control = Path(tempfile.mkdtemp(prefix="cp-", dir=self.work))
        env = dict(os.environ, ANSIBLE_SSH_CONTROL_PATH_DIR=str(control), ANSIBLE_NOCOLOR="1")
        env["ANSIBLE_LOCAL_TEMP"] = str(self.work / "ansible-tmp")
        argv = [self.ansible, f"n{count}", "-i", str(self.inventory), "-m", "raw" if raw else "command", "-a", "true"]
        if forks:
            argv += ["-f", str(count)]
        try:
            self._run(argv, env, expect=(" | CHANGED", count))
        except BaseException:
            close_masters(control)
            raise
        return lambda: close_masters(control)

    def pssh_run(self, count: int) -> None:
        assert self.pssh is not None
        spec = self.farm.spec()
        argv = [self.pssh, "-h", str(self.work / f"pssh-hosts-{count}"), "-p", str(count), "-t", "60"]
        argv += ["-O", f"UserKnownHostsFile={spec['known_hosts']}", "-O", f"IdentityFile={spec['key_file']}"]
        argv += ["-O", "StrictHostKeyChecking=yes", "-O", "BatchMode=yes", "true"]
        self._run(argv, expect=("[SUCCESS]", count))


def close_masters(control: Path) -> None:
    """Ask every ControlPersist master under this dir to exit (ssh -O exit), then remove the dir."""
    for socket_path in control.iterdir():
        subprocess.run(
            ["ssh", "-S", str(socket_path), "-O", "exit", "bench"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False,
        )  # fmt: skip
    shutil.rmtree(control, ignore_errors=True)


# -- the run ------------------------------------------------------------------------------------------------------


def build_runners(
    farm: SshdFarm, sizes: list[int], tools: list[str], install: bool
) -> tuple[dict[str, Callable[[int], Any]], list[str]]:
    """tool -> callable(count) that does one run (returning an optional cleanup); and notes on skipped tools."""
    spec = farm.spec()
    log_dir = farm.directory / "runs"
    notes: list[str] = []
    ansible = ensure_ansible(install) if any(t.startswith("ansible") for t in tools) else None
    pssh = ensure_pssh(install) if "pssh" in tools else None
    external = External(farm, sizes, ansible, pssh)
    runners: dict[str, Callable[[int], Any]] = {}
    for tool in tools:
        if tool.startswith("ansible") and not ansible:
            notes.append(f"{tool}: skipped (ansible-core not installed)")
        elif tool == "pssh" and not pssh:
            notes.append("pssh: skipped (parallel-ssh not installed)")
        elif tool == "ghosttasks":
            runners[tool] = lambda n: run_ghosttasks(spec, n, log_dir)
        elif tool == "fabric":
            runners[tool] = lambda n: run_fabric(spec, n)
        elif tool == "ghosttasks-proc":
            runners[tool] = lambda n: external.child("ghosttasks", n)
        elif tool == "fabric-proc":
            runners[tool] = lambda n: external.child("fabric", n)
        elif tool == "ansible":
            runners[tool] = lambda n: external.ansible_run(n)
        elif tool == "ansible-raw":
            runners[tool] = lambda n: external.ansible_run(n, raw=True)
        elif tool == "ansible-forks":
            runners[tool] = lambda n: external.ansible_run(n, forks=True)
        elif tool == "pssh":
            runners[tool] = external.pssh_run
    return runners, notes


def measure(
    runners: dict[str, Callable[[int], Any]], sizes: list[int], repeat: int, max_seconds: float
) -> tuple[dict[str, dict[int, list[float]]], bool]:
    """Interleaved runs: every repeat goes through every size and every tool, in a fresh random order each time
    (so no tool always follows the same one), with a short untimed pause between runs; bounded in time."""
    samples: dict[str, dict[int, list[float]]] = {tool: {size: [] for size in sizes} for tool in runners}
    tools = list(runners)
    shuffle = random.Random(5).shuffle  # fixed seed: the same order on every machine
    for tool in tools:  # warm-up (imports, first connections), not counted
        cleanup = runners[tool](sizes[0])
        if callable(cleanup):
            cleanup()
    started = time.monotonic()
    for round_ in range(repeat):
        for size in sizes:
            order = list(tools)
            shuffle(order)
            for tool in order:
                if time.monotonic() - started > max_seconds:
                    print(f"time budget of {max_seconds:.0f} s reached: stopping after {round_} full repeats")
                    return samples, True
                begin = time.perf_counter()
                cleanup = runners[tool](size)
                samples[tool][size].append(time.perf_counter() - begin)
                if callable(cleanup):
                    cleanup()
                time.sleep(SETTLE)
        print(f"repeat {round_ + 1}/{repeat} done ({time.monotonic() - started:.0f} s)", flush=True)
    return samples, False


def report(samples: dict[str, dict[int, list[float]]], sizes: list[int]) -> dict[str, Any]:
    """Print the tables (medians, ratios, targets) and return the summary."""
    medians = {tool: {size: median(values) for size, values in by_size.items()} for tool, by_size in samples.items()}
    columns = ["tool", *(f"N={size}" for size in sizes)]
    rows = [[tool, *(fmt_s(medians[tool][size]) for size in sizes)] for tool in medians]
    tables = [print_table("Median wall time (s) of one `true` on N hosts", columns, rows)]

    def row(label: str, numerator: str, denominator: str) -> list[str] | None:
        if numerator not in medians or denominator not in medians:
            return None
        return [label, *(fmt_x(ratio(medians[numerator][s], medians[denominator][s])) for s in sizes)]

    ratio_rows = [
        row("ghosttasks / raw Fabric (target <= 1.2x)", "ghosttasks", "fabric"),
        row("ghosttasks-proc / fabric-proc", "ghosttasks-proc", "fabric-proc"),
        row("Ansible defaults / ghosttasks (target >= 10x at N=40)", "ansible", "ghosttasks"),
        row("Ansible -m raw / ghosttasks", "ansible-raw", "ghosttasks"),
        row("Ansible -f N / ghosttasks", "ansible-forks", "ghosttasks"),
        row("pssh / ghosttasks (target >= 2.5x at N=40)", "pssh", "ghosttasks"),
        row("Ansible defaults / ghosttasks-proc", "ansible", "ghosttasks-proc"),
        row("pssh / ghosttasks-proc", "pssh", "ghosttasks-proc"),
    ]
    ratio_rows = [r for r in ratio_rows if r]
    tables.append(print_table("Ratios of medians", ["ratio", *(f"N={s}" for s in sizes)], ratio_rows))

    def at(tool: str, size: int) -> float | None:
        return medians.get(tool, {}).get(size)

    fabric_ratios = [ratio(at("ghosttasks", s), at("fabric", s)) for s in sizes]
    known = [r for r in fabric_ratios if r is not None]
    at40 = at("ghosttasks", 40)
    targets: list[tuple[str, str, bool | None]] = [
        (
            "within 1.2x of raw Fabric at every N",
            ", ".join(fmt_x(r) for r in fabric_ratios),
            all(r <= 1.2 for r in known) if known and len(known) == len(sizes) else None,
        ),
        ("N=40 under 0.8 s", fmt_s(at40), None if at40 is None else at40 < 0.8),
    ]
    for tool, label, need in (("ansible", "Ansible defaults", 10.0), ("pssh", "pssh", 2.5)):
        speedup = ratio(at(tool, 40), at40)
        met = None if speedup is None else speedup >= need
        targets.append((f">= {need:g}x faster than {label} at N=40", fmt_x(speedup), met))
    tables.append(
        print_table(
            "Targets (issue 5)", ["target", "measured", "verdict"], [[t, m, verdict(ok)] for t, m, ok in targets]
        )
    )
    return {
        "medians": {tool: {str(s): v for s, v in by_size.items()} for tool, by_size in medians.items()},
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets],
        "tables": tables,
    }


def child_main(args: argparse.Namespace) -> None:
    """--child: one run in this (new) process, for the *-proc tools."""
    spec = json.loads(Path(args.spec).read_text())
    if args.child == "ghosttasks":
        run_ghosttasks(spec, args.count, Path(args.log_dir))
    else:
        run_fabric(spec, args.count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="host counts (1-40), default 1 5 10 20 40")
    parser.add_argument("--repeat", type=int, default=5, help="runs per tool and size (median), default 5")
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), default=DEFAULT_TOOLS, help="clients to compare")
    parser.add_argument("--max-minutes", type=float, default=20, help="stop measuring after this long, default 20")
    parser.add_argument(
        "--no-install", action="store_true", help="skip Ansible/pssh when missing instead of installing"
    )
    parser.add_argument("--child", choices=["ghosttasks", "fabric"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    sizes = sorted(set(args.sizes))
    if not all(1 <= size <= MAX_HOSTS for size in sizes) or not 1 <= args.repeat <= 100:
        parser.error(f"sizes must be 1-{MAX_HOSTS} and repeat 1-100")
    stop_on_signals()
    info = machine_info()
    print(f"fan-out benchmark, {info['date_utc']}, {info['cpus']} CPUs, load {info['loadavg']}", flush=True)
    with SshdFarm(max(sizes)) as farm:
        print(f"{max(sizes)} sshd hosts up on 127.0.1.1-127.0.1.{max(sizes)}:{farm.port} ({farm.directory})")
        runners, notes = build_runners(farm, sizes, args.tools, install=not args.no_install)
        for note in notes:
            print(note)
        samples, cut = measure(runners, sizes, args.repeat, args.max_minutes * 60)
        connections = sum(host.connections_since(0) for host in farm.hosts)
    summary = report(samples, sizes)
    info["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    path = write_results(
        "fanout",
        {
            "benchmark": "fanout",
            "machine": info,
            "sizes": sizes,
            "repeat": args.repeat,
            "cut_short": cut,
            "tools": {tool: TOOLS[tool] for tool in runners},
            "notes": notes,
            "samples": {tool: {str(s): v for s, v in by_size.items()} for tool, by_size in samples.items()},
            "sshd_connections_total": connections,
            **summary,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: benchmark hosts stopped", file=sys.stderr)
        sys.exit(130)
