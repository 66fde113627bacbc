"""Starting the lab's daemons and watching them: PID files, start unless running, reload on a changed config,
wait until each answers (or say why it did not, from its log)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from lab.labctl.commands import system_env
from lab.labctl.daemons import Daemon, lab_daemons
from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import FLAT, Topology
from lab.labctl.paths import Layout
from lab.labctl.processes import is_alive
from lab.labctl.progress import Reporter


def recorded_pid(lay: Layout, name: str) -> int | None:
    """The PID in a lab daemon's PID file, alive or not."""
    try:
        return int(lay.pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(lay: Layout, name: str) -> int | None:
    """The PID recorded for a lab daemon, if that process is still the lab's and alive."""
    pid = recorded_pid(lay, name)
    return pid if pid is not None and is_alive(pid, str(lay.root)) else None


def start_daemon(lay: Layout, daemon: Daemon) -> tuple[str, int]:
    """Start a daemon unless it already runs; return ('started'|'running', pid)."""
    pid = running_pid(lay, daemon.name)
    if pid:
        return "running", pid
    if daemon.ready():
        raise LabError(f"{daemon.name}: cannot start, {daemon.taken_by()} (not started by this lab)")
    lay.run_dir.mkdir(parents=True, exist_ok=True)
    lay.log_dir.mkdir(parents=True, exist_ok=True)
    with open(lay.daemon_log(daemon.name), "ab") as log:
        proc = subprocess.Popen(
            daemon.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=lay.root,
            env=system_env(),
            start_new_session=True,
        )
    write_file(lay.pid_file(daemon.name), f"{proc.pid}\n")
    return "started", proc.pid


def wait_ready(lay: Layout, started: list[Daemon], timeout: float = 60) -> None:
    """Wait until every daemon answers; a daemon that exits or stays silent fails with its last log line."""
    pending = list(started)
    deadline = time.monotonic() + timeout
    while pending:
        for daemon in list(pending):
            # Not running_pid(): between fork and exec a child still shows the parent's command line,
            # which lacks the lab root; a process we have just started only needs to be alive.
            pid = int(lay.pid_file(daemon.name).read_text().strip())
            alive = is_alive(pid)
            if alive and daemon.ready():
                pending.remove(daemon)
            elif not alive:
                raise LabError(f"{daemon.name}: exited at start: {_log_tail(lay, daemon.name)}")
        if pending and time.monotonic() > deadline:
            names = ", ".join(daemon.name for daemon in pending)
            raise LabError(f"daemons: {names} not ready after {timeout:.0f} s: {_log_tail(lay, pending[0].name)}")
        time.sleep(0.1)


def _log_tail(lay: Layout, name: str) -> str:
    logs = [lay.daemon_log(name)]
    if name.startswith("sshd-"):
        logs.append(lay.sshd_log(name.removeprefix("sshd-")))
    for log in reversed(logs):
        try:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            continue
        if lines:
            return f"{lines[-1].strip()[:300]} (log {log})"
    return f"no output (log {logs[0]})"


def start_daemons(lay: Layout, changed: set[str], report: Reporter, topo: Topology = FLAT) -> None:
    """Start every daemon not yet running, reload the running ones whose configuration changed, wait."""
    fresh = []
    for daemon in lab_daemons(lay, topo):
        state, pid = start_daemon(lay, daemon)
        if state == "running" and daemon.name in changed:
            os.kill(pid, signal.SIGHUP)
            state = "reloaded"
        if state == "started":
            fresh.append(daemon)
        report.say(f"  {state:<9} {daemon.name:<14} pid {pid:<7} {daemon.listen}")
    wait_ready(lay, fresh)
