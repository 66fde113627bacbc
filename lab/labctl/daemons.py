"""The lab's long-running processes, one by one: each daemon's command line, address and readiness check.

Starting and watching them is lab/labctl/supervisor.py; their processes in /proc, lab/labctl/processes.py.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lab.labctl import netns
from lab.labctl.commands import SYSTEM_PATH
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
    for host in topo.hosts:
        if host.own_lb_dir:
            ready = partial(netns.tcp_open, ns, host.address, 80)
            found.append(Daemon(f"nginx-{host.name}", own_lb_dir(lay, argv), f"{host.address}:80", ready, ns))
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


def own_lb_dir(lay: Layout, argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` in a mount namespace of its own where lb2's files (Layout.lb2_view) are bound over the LB's directory:
    a second LB with the same paths and its own files. unshare and sh exec it: the PID is the daemon's."""
    bind = f'mount --bind {lay.lb2_view} {lay.lb_dir} && exec "$@"'
    unshare = shutil.which("unshare", path=SYSTEM_PATH) or "/usr/bin/unshare"
    return (unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", bind, "sh", *argv)


def _sshd(lay: Layout, host: LabHost, namespace: str | None) -> Daemon:
    argv = ("/usr/sbin/sshd", "-D", "-f", str(lay.sshd_config(host.name)), "-E", str(lay.sshd_log(host.name)))
    if host.own_lb_dir:
        argv = own_lb_dir(lay, argv)
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
