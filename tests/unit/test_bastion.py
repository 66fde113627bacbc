"""The executor through a bastion, against in-process paramiko SSH servers on loopback (no lab needed):
host keys checked for the bastion too, refusals and errors naming the machine that caused them, one
bastion connection shared by every host behind it, and ssh_config applied with hosts.yml winning."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import paramiko
import pytest

from ghosttasks.config.settings import SSHSettings
from ghosttasks.config.ssh_targets import no_ssh_config
from ghosttasks.domain.errors import ConfigError, OperationFailed
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.terminal.output import Output
from ghosttasks.testing import prod

ROOT = Path(__file__).resolve().parents[2]


class Server(paramiko.ServerInterface):
    """Accepts any public key; runs `uname -n` (answers its name); forwards direct-tcpip when a bastion."""

    def __init__(self, stub: StubSSHD) -> None:
        self.stub = stub

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        self.stub.logins.append(username)
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        def answer():
            time.sleep(0.05)  # after paramiko has answered the exec request
            channel.sendall(f"{self.stub.name}\n".encode())
            channel.send_exit_status(0)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True

    def check_channel_direct_tcpip_request(self, chanid, origin, destination):
        if not self.stub.forwards:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        time.sleep(self.stub.stall)  # a bastion whose TCP connect to the host hangs
        try:
            upstream = socket.create_connection(destination, timeout=5)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        self.stub.forwarded.append(destination)
        self.stub.pending.append(upstream)
        return paramiko.OPEN_SUCCEEDED


class StubSSHD:
    """A minimal sshd on 127.0.0.1 (ephemeral port) with its own host key."""

    def __init__(self, name: str, *, forwards: bool = False, stall: float = 0) -> None:
        self.name, self.forwards, self.stall = name, forwards, stall
        self.key = paramiko.ECDSAKey.generate()
        self.logins: list[str] = []
        self.forwarded: list[tuple[str, int]] = []
        self.pending: list[socket.socket] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.key.get_name()} {self.key.get_base64()}\n"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.key)
            self.transports.append(transport)
            try:
                transport.start_server(server=Server(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue
            threading.Thread(target=self._channels, args=(transport,), daemon=True).start()

    def _channels(self, transport: paramiko.Transport) -> None:
        while transport.is_active():
            channel = transport.accept(timeout=0.2)
            if channel is None or channel.get_name() == "session" or not self.pending:
                continue
            upstream = self.pending.pop(0)
            for source, sink in ((channel, upstream), (upstream, channel)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def stop(self) -> None:
        self.listener.close()
        for transport in self.transports:
            transport.close()


def _pump(source, sink) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except (OSError, EOFError):
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError, EOFError):
                end.close()


@pytest.fixture
def servers():
    started: list[StubSSHD] = []

    def start(name: str, **kwargs) -> StubSSHD:
        stub = StubSSHD(name, **kwargs)
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.stop()


@pytest.fixture
def client_key(tmp_path):
    path = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(path))
    return str(path)


def environment(tmp_path, client_key, *, known: list[StubSSHD], jump: str | None, hosts: dict[str, StubSSHD], **ssh):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("".join(stub.known_hosts_line() for stub in known))
    settings = prod().ssh.model_copy(
        update={"jump_host": jump, "key_file": client_key, "known_hosts": str(known_hosts), "connect_timeout": 5, **ssh}
    )
    placed = [
        h.model_copy(update={"address": "127.0.0.1", "port": hosts[h.name].port}) if h.name in hosts else h
        for h in prod().hosts
    ]
    return prod().model_copy(update={"ssh": settings, "hosts": placed})


def host(env, name):
    return next(h for h in env.hosts if h.name == name)


def test_hosts_behind_the_bastion_share_its_one_connection(tmp_path, client_key, servers):
    bastion, lb, app = servers("bastion", forwards=True), servers("lb1"), servers("app1")
    env = environment(
        tmp_path,
        client_key,
        known=[bastion, lb, app],
        jump=f"jump@127.0.0.1:{bastion.port}",
        hosts={"lb1": lb, "app1": app},
    )
    executor = SSHExecutor(env, Output(silent=True))
    try:
        assert executor.run(host(env, "lb1"), "uname -n").stdout == "lb1\n"
        assert executor.run(host(env, "app1"), "uname -n").stdout == "app1\n"
    finally:
        executor.close()
    assert bastion.connections == 1 and bastion.logins == ["jump"]
    assert bastion.forwarded == [("127.0.0.1", lb.port), ("127.0.0.1", app.port)]
    assert lb.logins == ["deploy"] and app.logins == ["deploy"]


def test_an_unknown_bastion_key_is_refused_naming_the_bastion(tmp_path, client_key, servers):
    bastion, lb = servers("bastion", forwards=True), servers("lb1")
    env = environment(tmp_path, client_key, known=[lb], jump=f"jump@127.0.0.1:{bastion.port}", hosts={"lb1": lb})
    executor = SSHExecutor(env, Output(silent=True))
    with pytest.raises(OperationFailed) as refused:
        executor.run(host(env, "lb1"), "uname -n")
    known_hosts = env.ssh.known_hosts
    assert str(refused.value) == (
        f"bastion 127.0.0.1:{bastion.port} (jump host of lb1) is not in {known_hosts}: refusing an unknown host key"
    )
    assert refused.value.hint == (
        f"to trust it: ssh-keyscan -p {bastion.port} 127.0.0.1 >> {known_hosts} (after checking the fingerprint)"
    )
    assert bastion.logins == [] and lb.connections == 0  # refused before logging in; the host never contacted


def test_a_changed_bastion_key_is_refused_naming_the_bastion(tmp_path, client_key, servers):
    bastion, impostor, lb = servers("bastion", forwards=True), servers("impostor"), servers("lb1")
    env = environment(tmp_path, client_key, known=[lb], jump=f"127.0.0.1:{bastion.port}", hosts={"lb1": lb})
    Path(env.ssh.known_hosts).write_text(
        impostor.known_hosts_line().replace(str(impostor.port), str(bastion.port)) + lb.known_hosts_line()
    )
    with pytest.raises(
        OperationFailed, match=rf"^host key of bastion 127\.0\.0\.1:{bastion.port} \(jump host of lb1\)"
    ):
        SSHExecutor(env, Output(silent=True)).run(host(env, "lb1"), "uname -n")


def test_an_unknown_host_behind_the_bastion_gets_a_hint_that_scans_through_it(tmp_path, client_key, servers):
    bastion, lb = servers("bastion", forwards=True), servers("lb1")
    env = environment(tmp_path, client_key, known=[bastion], jump=f"jump@127.0.0.1:{bastion.port}", hosts={"lb1": lb})
    executor = SSHExecutor(env, Output(silent=True))
    try:
        with pytest.raises(OperationFailed) as refused:
            executor.run(host(env, "lb1"), "uname -n")
    finally:
        executor.close()
    known_hosts = env.ssh.known_hosts
    assert str(refused.value) == (f"lb1 (127.0.0.1:{lb.port}) is not in {known_hosts}: refusing an unknown host key")
    assert refused.value.hint == (
        f"to trust it: ssh -p {bastion.port} -i {client_key} -o UserKnownHostsFile={known_hosts} jump@127.0.0.1 "
        f"ssh-keyscan -p {lb.port} 127.0.0.1 >> {known_hosts} (after checking the fingerprint)"
    )


def test_an_unreachable_bastion_is_named_and_not_retried_by_every_host_at_once(tmp_path, client_key, servers):
    lb, app = servers("lb1"), servers("app1")
    port = closed_port()
    env = environment(tmp_path, client_key, known=[lb, app], jump=f"127.0.0.1:{port}", hosts={"lb1": lb, "app1": app})
    executor = SSHExecutor(env, Output(silent=True))
    results = executor.run_parallel([host(env, "lb1"), host(env, "app1")], "uname -n", check=False)
    for result in results:
        assert result.exit_code == 255
        assert (
            result.stderr == f"cannot reach bastion 127.0.0.1:{port} (jump host of {result.host}): Connection refused"
        )
        assert result.hint == "check that the bastion is up and ssh.jump_host is right"


def closed_port() -> int:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return port


def test_a_host_the_bastion_cannot_reach_is_named_with_the_bastion(tmp_path, client_key, servers):
    bastion, lb = servers("bastion", forwards=True), servers("lb1")
    env = environment(tmp_path, client_key, known=[bastion, lb], jump=f"127.0.0.1:{bastion.port}", hosts={"lb1": lb})
    port = closed_port()
    env = env.model_copy(
        update={"hosts": [h.model_copy(update={"port": port}) if h.name == "lb1" else h for h in env.hosts]}
    )
    with pytest.raises(OperationFailed) as failed:
        SSHExecutor(env, Output(silent=True)).run(host(env, "lb1"), "uname -n")
    assert (
        str(failed.value)
        == f"cannot reach lb1 (127.0.0.1:{port}) through bastion 127.0.0.1:{bastion.port}: Connect failed"
    )
    assert (
        failed.value.hint == "check that the host is up and that the bastion may forward TCP to it (AllowTcpForwarding)"
    )


def test_a_bastion_that_does_not_answer_the_channel_is_a_timeout_not_an_hour(tmp_path, client_key, servers):
    bastion, lb = servers("bastion", forwards=True, stall=3), servers("lb1")
    env = environment(tmp_path, client_key, known=[bastion, lb], jump=f"127.0.0.1:{bastion.port}", hosts={"lb1": lb})
    env = env.model_copy(update={"ssh": env.ssh.model_copy(update={"connect_timeout": 1})})
    started = time.monotonic()
    with pytest.raises(OperationFailed) as failed:
        SSHExecutor(env, Output(silent=True)).run(host(env, "lb1"), "uname -n")
    assert time.monotonic() - started < 2.5
    assert str(failed.value) == (
        f"cannot reach lb1 (127.0.0.1:{lb.port}) through bastion 127.0.0.1:{bastion.port}: Timeout opening channel."
    )


def test_ssh_config_is_read_only_when_asked_and_hosts_yml_wins(tmp_path, client_key, servers):
    bastion, lb = servers("bastion", forwards=True), servers("lb1")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host lb1-alias\n    HostName 127.0.0.1\n    Port {lb.port}\n    User alice\n"
        f"    ProxyJump gate@127.0.0.1:{bastion.port}\n"
    )
    env = environment(tmp_path, client_key, known=[bastion, lb], jump=None, hosts={"lb1": lb})
    written = SSHSettings(  # as if hosts.yml wrote only these: no port, no jump host
        user="deploy", key_file=client_key, known_hosts=env.ssh.known_hosts, connect_timeout=5, config_file=str(config)
    )
    lb1 = host(env, "lb1").model_copy(update={"address": "lb1-alias", "port": None})
    env = env.model_copy(update={"ssh": written, "hosts": [lb1 if h.name == "lb1" else h for h in env.hosts]})
    executor = SSHExecutor(env, Output(silent=True))
    try:
        assert executor.run(host(env, "lb1"), "uname -n").stdout == "lb1\n"
    finally:
        executor.close()
    # HostName, Port and ProxyJump came from ssh_config; ssh.user (written in hosts.yml) beat its User
    assert lb.logins == ["deploy"] and bastion.logins == ["gate"]
    unset = env.model_copy(update={"ssh": env.ssh.model_copy(update={"config_file": None})})
    assert (
        SSHExecutor(unset, Output(silent=True)).connections.lookup() is no_ssh_config
    )  # ~/.ssh/config is never read by itself
    unread = env.model_copy(update={"ssh": env.ssh.model_copy(update={"config_file": str(tmp_path / "missing")})})
    with pytest.raises(ConfigError, match=r"ssh config file .*missing not found"):
        SSHExecutor(unread, Output(silent=True)).run(host(unread, "lb1"), "uname -n")
