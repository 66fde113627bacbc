"""The lab's long-running processes: what they are, how to start them, how to tell they are alive and ready."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lab.labctl import netns
from lab.labctl.commands import SYSTEM_PATH, system_env
from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import (
    ALERTMANAGER_PORT,
    DOCKER_GROUP,
    FLAT,
    PROMETHEUS_PORT,
    PUSHGATEWAY_PORT,
    REGISTRY_PORT,
    SSH_PORT,
    WEBHOOK_ADDR,
    WEBHOOK_PORT,
    Bridge,
    LabHost,
    Topology,
)
from lab.labctl.paths import LAB_DIR, Layout
from lab.labctl.progress import Reporter


@dataclass(frozen=True)
class Daemon:
    """A long-running process of the lab: how to start it and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    listen: str
    ready: Callable[[], bool] = field(compare=False)
    namespace: str | None = None  # the network namespace it runs in (None: this machine's)

    def taken_by(self) -> str:
        """Who already listens where this daemon would (ss), for the error message."""
        if self.listen.startswith("unix://"):
            return f"{self.listen} answers"
        ss = [*netns.prefix(self.namespace), "ss", "-Hltnp", "src", self.listen.split(",")[0]]
        result = subprocess.run(ss, capture_output=True, text=True)
        users = re.search(r"users:\(\((.*?)\)\)", result.stdout)
        where = f" in network namespace {self.namespace}" if self.namespace else ""
        return f"{self.listen}{where} is taken by {users[1] if users else 'another process'}"

    @property
    def command(self) -> tuple[str, ...]:
        """The argv that starts it: inside its namespace (nsenter execs it, the PID is the daemon's)."""
        return (*netns.prefix(self.namespace), *self.argv)


def lab_daemons(lay: Layout, topo: Topology = FLAT) -> list[Daemon]:
    """Every daemon of the lab, in start order."""
    ns = topo.namespace
    found = [_dockerd(lay, host, ns) for host in topo.docker_hosts]
    found += [_sshd(lay, host, ns) for host in topo.ssh_hosts]
    nginx = shutil.which("nginx", path=SYSTEM_PATH) or "/usr/sbin/nginx"
    argv = (nginx, "-c", str(lay.nginx_conf), "-e", str(lay.lb_dir / "error.log"))
    lb = topo.lb_addr
    found.append(Daemon("nginx-lb", argv, f"{lb}:80", partial(netns.tcp_open, ns, lb, 80), ns))
    found.append(_prometheus(lay, topo))
    found += [_alertmanager(lay, topo), _pushgateway(lay, topo)]
    found.append(_registry(lay, topo))
    found.append(_webhook(lay))  # before the bridges: the webhook bridge connects out to it
    for bridge in topo.bridges:
        found += _bridge(lay, bridge, ns)
    return found


def _dockerd(lay: Layout, host: LabHost, namespace: str | None) -> Daemon:
    base = lay.docker_dir(host.name)
    # In the namespace the socket belongs to the group the deploy user is in (mode 0660): Docker without sudo.
    group = (f"--group={DOCKER_GROUP}",) if namespace else ()
    argv = (
        shutil.which("dockerd", path=SYSTEM_PATH) or "/usr/sbin/dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        f"--config-file={base / 'daemon.json'}",
        f"--data-root={base / 'data'}",
        f"--exec-root={base / 'exec'}",
        f"--pidfile={base / 'dockerd.pid'}",
        f"--host=unix://{lay.docker_sock(host.name)}",
        f"--containerd-namespace=ghostlab-{host.name}",
        f"--containerd-plugins-namespace=ghostlab-{host.name}-plugins",
        *group,
    )
    sock = lay.docker_sock(host.name)
    return Daemon(f"dockerd-{host.name}", argv, f"unix://{sock}", partial(_docker_ping, sock), namespace)


def _sshd(lay: Layout, host: LabHost, namespace: str | None) -> Daemon:
    argv = ("/usr/sbin/sshd", "-D", "-f", str(lay.sshd_config(host.name)), "-E", str(lay.sshd_log(host.name)))
    listen = ",".join(f"{address}:{SSH_PORT}" for address in host.listen)
    ready = partial(netns.tcp_open, namespace, host.address, SSH_PORT)
    return Daemon(f"sshd-{host.name}", argv, listen, ready, namespace)


def _prometheus(lay: Layout, topo: Topology) -> Daemon:
    address = topo.monitoring_addr
    argv = (
        shutil.which("prometheus", path=SYSTEM_PATH) or "/usr/bin/prometheus",
        f"--config.file={lay.prometheus_config}",
        f"--storage.tsdb.path={lay.monitoring_dir / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address={address}:{PROMETHEUS_PORT}",
        "--web.enable-lifecycle",
    )
    return _listening("prometheus", argv, topo, address, PROMETHEUS_PORT)


def _listening(name: str, argv: tuple[str, ...], topo: Topology, address: str, port: int) -> Daemon:
    """A daemon of the topology's monitoring/registry side: ready once it accepts TCP on address:port."""
    ready = partial(netns.tcp_open, topo.namespace, address, port)
    return Daemon(name, argv, f"{address}:{port}", ready, topo.namespace)


def _alertmanager(lay: Layout, topo: Topology) -> Daemon:
    address = topo.alertmanager_addr
    argv = (
        shutil.which("prometheus-alertmanager", path=SYSTEM_PATH) or "/usr/bin/prometheus-alertmanager",
        f"--config.file={lay.alertmanager_config}",
        f"--storage.path={lay.monitoring_dir / 'alertmanager'}",
        f"--web.listen-address={address}:{ALERTMANAGER_PORT}",
        "--cluster.listen-address=",  # no gossip port (it would bind 0.0.0.0:9094)
    )
    return _listening("alertmanager", argv, topo, address, ALERTMANAGER_PORT)


def _pushgateway(lay: Layout, topo: Topology) -> Daemon:
    address = topo.pushgateway_addr
    argv = (
        shutil.which("prometheus-pushgateway", path=SYSTEM_PATH) or "/usr/bin/prometheus-pushgateway",
        f"--web.listen-address={address}:{PUSHGATEWAY_PORT}",
        f"--persistence.file={lay.monitoring_dir / 'pushgateway.metrics'}",
    )
    return _listening("pushgateway", argv, topo, address, PUSHGATEWAY_PORT)


def _registry(lay: Layout, topo: Topology) -> Daemon:
    """The docker registry (distribution v2, htpasswd) the app hosts push to and pull from."""
    argv = (
        shutil.which("docker-registry", path=SYSTEM_PATH) or "/usr/bin/docker-registry",
        "serve",
        str(lay.registry_dir / "config.yml"),
    )
    address = topo.registry_addr
    return _listening("registry", argv, topo, address, REGISTRY_PORT)


def _bridge(lay: Layout, bridge: Bridge, namespace: str | None) -> list[Daemon]:
    """One port into the namespace: a socat pair that meets at a unix socket of the lab root.

    Inside: socat listens on the unix socket and connects to the target in the namespace. Outside: socat
    listens on the operator's side and connects to the unix socket. A unix socket is a file, not an
    address of either network namespace, so this pair is the only path from outside to that one port;
    nothing routes between the namespaces. Each TCP side sets TCP_NODELAY (SSH's small packets).
    """
    sock = lay.bridge_socket(bridge.name)
    socat = shutil.which("socat", path=SYSTEM_PATH) or "/usr/bin/socat"
    # The side that listens on the unix socket runs where the target is; the TCP listener where clients are.
    near, far = (namespace, None) if bridge.inward else (None, namespace)
    inner = (
        socat,
        f"UNIX-LISTEN:{sock},fork,unlink-early,mode=0600",
        f"TCP4:{bridge.target_addr}:{bridge.target_port},nodelay",
    )
    outer = (
        socat,
        f"TCP4-LISTEN:{bridge.listen_port},bind={bridge.listen_addr},fork,reuseaddr,nodelay",
        f"UNIX-CONNECT:{sock}",
    )
    listen = f"{bridge.listen_addr}:{bridge.listen_port}"
    return [
        Daemon(f"bridge-{bridge.name}-in", inner, f"unix://{sock}", partial(_unix_open, sock), near),
        Daemon(
            f"bridge-{bridge.name}-out",
            outer,
            listen,
            partial(netns.tcp_open, far, bridge.listen_addr, bridge.listen_port),
            far,
        ),
    ]


def _unix_open(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(0.5)
            client.connect(str(sock))
            return True
    except OSError:
        return False


def _webhook(lay: Layout) -> Daemon:
    argv = (
        sys.executable,
        str(LAB_DIR / "webhook_receiver.py"),
        f"--bind={WEBHOOK_ADDR}",
        f"--port={WEBHOOK_PORT}",
        f"--events={lay.webhook_events}",
    )
    return Daemon("webhook", argv, f"{WEBHOOK_ADDR}:{WEBHOOK_PORT}", partial(tcp_open, WEBHOOK_ADDR, WEBHOOK_PORT))


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _docker_ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = client.recv(256).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line


# --------------------------------------------------------------------------- processes (/proc)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int, marker: str = "") -> bool:
    """Whether pid runs (not a zombie) and its command line mentions marker (our lab root)."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] in "ZXx":
        _reap(pid)
        return False
    if not marker:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def descendants(root_pid: int) -> list[int]:
    """Every process below root_pid, each after its parent (an sshd's sessions and the commands they run)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


# --------------------------------------------------------------------------- starting


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
