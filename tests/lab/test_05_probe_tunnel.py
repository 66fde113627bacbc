"""Probes through SSH against real sshds on loopback (no lab needed): the channel really carries them.

Self-contained: two sshds of our own — a bastion on 127.0.9.1:22 and an "app host" on
127.0.9.2:2222 — each with its own host key, a generated client key and known_hosts, and an HTTP
server on 127.0.9.2:18001 standing in for the api. httpcore's direct connect is made to fail during
the probes, so an answer proves the request went through a channel; the sshd logs say which sshd
opened it (LogLevel VERBOSE; OpenSSH 9.2 logs a successful direct-tcpip open only at DEBUG1, so
LogVerbose raises exactly that line, as lab/labctl/configs.py does). Everything is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import pytest

from ghosttasks.config.inventory import Environment
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.terminal.output import Output

SSHD = "/usr/sbin/sshd"
BASTION, APP = "127.0.9.1", "127.0.9.2"
BASTION_PORT, APP_SSH_PORT, API_PORT, CLOSED_PORT = 22, 2222, 18001, 18009

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(SSHD).exists(), reason="needs root and OpenSSH's sshd")

SSHD_CONFIG = """\
ListenAddress {address}:{port}
AddressFamily inet
HostKey {directory}/host_key
PidFile {directory}/sshd.pid
LogLevel VERBOSE
LogVerbose serverloop.c:server_request_direct_tcpip():*
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile {authorized_keys}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
"""


def _open(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.2):
        return True
    return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class Sshd:
    """One sshd of ours: own host key and config, log file; stopped (with its sessions) by PID."""

    def __init__(self, directory: Path, address: str, port: int, authorized_keys: Path) -> None:
        self.directory, self.address, self.port = directory, address, port
        directory.mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", directory / "host_key"], check=True)
        config = directory / "sshd_config"
        config.write_text(
            SSHD_CONFIG.format(address=address, port=port, directory=directory, authorized_keys=authorized_keys)
        )
        self.log = directory / "sshd.log"
        if _open(address, port):
            raise RuntimeError(f"{address}:{port} is already in use")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(config), "-E", str(self.log)], stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while not _open(address, port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {address}:{port} did not start: {self.log.read_text()[-400:]}")
            time.sleep(0.02)

    def known_hosts_line(self) -> str:
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        key = (self.directory / "host_key.pub").read_text().split()[:2]
        return f"{name} {' '.join(key)}"

    def forwards(self, port: int) -> int:
        """direct-tcpip channels this sshd opened to (APP, port)."""
        pattern = re.compile(rf"server_request_direct_tcpip.*: originator \S* port \d+, target {APP} port {port}$")
        return sum(1 for line in self.log.read_text().splitlines() if pattern.search(line))

    def stop(self) -> None:
        sessions = _children(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.paths.append(self.path)
        if self.path.startswith("/api/v1/query"):
            body = {"status": "success", "data": {"result": [{"value": [0, "0.01"]}]}}
        else:
            body = {"status": "ok", "version": "v1.0.0", "color": None}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("probe-tunnel")
    os.chmod(directory, 0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    key = directory / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    authorized = directory / "authorized_keys"
    shutil.copy(directory / "client_key.pub", authorized)
    server = ThreadingHTTPServer((APP, API_PORT), Api)
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    daemons = []
    try:
        daemons.append(Sshd(directory / "bastion", BASTION, BASTION_PORT, authorized))
        daemons.append(Sshd(directory / "app1", APP, APP_SSH_PORT, authorized))
        known_hosts = directory / "known_hosts"
        known_hosts.write_text("".join(f"{sshd.known_hosts_line()}\n" for sshd in daemons))
        yield {"bastion": daemons[0], "app": daemons[1], "server": server, "key": key, "known_hosts": known_hosts}
    finally:
        for sshd in daemons:
            sshd.stop()
        server.shutdown()
        server.server_close()


def environment(world, *, jump: bool, via: str = "auto") -> Environment:
    ssh = {"user": "root", "key_file": str(world["key"]), "known_hosts": str(world["known_hosts"])}
    if jump:
        ssh["jump_host"] = BASTION
    return Environment(
        name="tunnel",
        ssh=ssh,
        hosts=[{"name": "app1", "address": APP, "port": APP_SSH_PORT, "roles": ["app", "db"]}],
        app={
            "strategy": "single",
            "dir": "/srv/app",
            "repo_url": "unused",
            "project": "tunnel",
            "compose_files": ["compose.yml"],
            "ports": {"api": API_PORT},
            "health_paths": {"api": "/api/v1/health"},
        },
        database={"backup_dir": "/tmp/unused"},
        monitoring={"prometheus_url": f"http://{APP}:{API_PORT}"},
        probes={"via": via},
    )


@pytest.fixture
def no_direct_connections(monkeypatch):
    """httpcore's own TCP connect fails: a probe that answers went through an SSH channel."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a probe connected directly: {args}")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", refuse)


def run_for(env: Environment) -> Run:
    out = Output(silent=True)
    return Run(env, SSHExecutor(env, out), out, "verify.health")


def test_through_the_jump_host_the_bastion_opens_the_channel(world, no_direct_connections):
    bastion, app, server = world["bastion"], world["app"], world["server"]
    before = (bastion.forwards(API_PORT), app.forwards(API_PORT), len(server.paths))
    run = run_for(environment(world, jump=True))
    try:
        wait_for_color(run, None, "v1.0.0", deadline=10)
        prometheus = run.env.monitoring.prometheus_url
        client = run.executor.http_client(prometheus)
        values = [probes.prometheus_query(prometheus, "up", client=client) for _ in range(2)]
    finally:
        run.executor.close()
    time.sleep(0.2)  # let sshd write its log
    assert values == [0.01, 0.01]
    assert server.paths[before[2] :][0] == "/api/v1/health"
    # one channel for the health check (Connection: close), one kept alive for both queries
    assert bastion.forwards(API_PORT) - before[0] == 2
    assert app.forwards(API_PORT) == before[1]  # the app host's own sshd opened none


def test_without_a_jump_host_the_hosts_own_sshd_opens_the_channel(world, no_direct_connections):
    bastion, app = world["bastion"], world["app"]
    before = (bastion.forwards(API_PORT), app.forwards(API_PORT))
    run = run_for(environment(world, jump=False, via="ssh"))
    try:
        wait_for_color(run, None, "v1.0.0", deadline=10)
    finally:
        run.executor.close()
    time.sleep(0.2)
    assert app.forwards(API_PORT) - before[1] == 1
    assert bastion.forwards(API_PORT) == before[0]


def test_a_port_nothing_listens_on_is_reported_as_the_path_not_the_app(world, no_direct_connections):
    env = environment(world, jump=True)
    env = env.model_copy(update={"app": env.app.model_copy(update={"ports": {"api": CLOSED_PORT}})})
    run = run_for(env)
    started = time.monotonic()
    try:
        with pytest.raises(OperationFailed) as failed:
            wait_for_color(run, None, None, deadline=2)
    finally:
        run.executor.close()
    assert time.monotonic() - started < 6
    message = str(failed.value)
    assert f"app1 api: ConnectError: {APP}:{CLOSED_PORT} via SSH through {BASTION}: " in message, message
    assert f"{BASTION} could not open the channel (Connect failed)" in message
    assert failed.value.hint.startswith(f"no probe got a connection (via SSH ({BASTION}))")
    time.sleep(0.2)
    assert f"connect_to {APP} port {CLOSED_PORT}: failed." in world["bastion"].log.read_text()
