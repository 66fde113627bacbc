"""The run's SSH connections: one Fabric Connection per host, opened on first use and reused (TCP_NODELAY set).

- Host keys are checked against the inventory's known_hosts (RejectPolicy), the bastion's too; unknown
  or changed keys are refused with the command that would trust the host (run through the bastion for a
  host behind it).
- Where a connection goes (user, port, keys, bastion) is decided by ghosttasks.config.ssh_targets from
  hosts.yml and, with `ssh.config_file`, the user's OpenSSH config; Fabric is given the result and never
  reads ssh_config itself, so every hop gets our host-key policy.
- One bastion connection per run, shared by every host behind it, opened first so that its errors name it.
- Every failure to connect is one OperationFailed naming the host (or bastion) and what to do.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import threading
import time
from typing import Any

from ghosttasks.config import ssh_targets
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.config.ssh_targets import Endpoint, Route
from ghosttasks.domain.errors import ConfigError, OperationFailed


@functools.cache
def _prompt_remote() -> type:
    """Fabric's Remote runner polling for the command's end every 2 ms instead of Invoke's 10 ms.

    A deploy runs dozens of short commands per host; the 10 ms poll was most of their latency.
    """
    from fabric.runners import Remote

    class PromptRemote(Remote):
        input_sleep = 0.002

    return PromptRemote


@functools.cache
def _connection_class() -> type:
    """Fabric's Connection whose channel through the bastion has a deadline (paramiko's default: an hour)."""
    from fabric import Connection

    class BoundedConnection(Connection):
        channel_timeout: float = 10

        def open_gateway(self) -> Any:
            if isinstance(self.gateway, str):  # ProxyCommand
                return super().open_gateway()
            self.gateway.open()
            return self.gateway.transport.open_channel(
                "direct-tcpip", (self.host, int(self.port)), ("127.0.0.1", 0), timeout=self.channel_timeout
            )

    return BoundedConnection


class Connections:
    """The run's connections to its hosts and bastions, each opened once and closed with the run."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self._connections: dict[str, Any] = {}
        self._host_locks: dict[str, threading.Lock] = {host.name: threading.Lock() for host in env.hosts}
        self._known_hosts: Any = None
        self._known_hosts_lock = threading.Lock()
        self._ssh_config: Any = None
        self._bastions: dict[Endpoint, Any] = {}
        self._bastion_failures: dict[Endpoint, tuple[float, str, OperationFailed]] = {}
        self._bastion_lock = threading.Lock()
        self._ahead_failures: dict[str, Exception] = {}

    def _trusted_keys(self) -> Any:
        """The inventory's known_hosts, parsed once per run (not once per connection)."""
        import paramiko

        with self._known_hosts_lock:
            if self._known_hosts is None:
                path = os.path.expanduser(self.env.ssh.known_hosts)
                try:
                    self._known_hosts = paramiko.HostKeys(path)
                except FileNotFoundError:
                    raise ConfigError(f"known_hosts file {path} not found (ssh.known_hosts in the inventory)") from None
            return self._known_hosts

    def lookup(self) -> ssh_targets.Lookup:
        """ssh_config lookups (paramiko's SSHConfig, as Fabric reads it), parsed once per run; none when unset."""
        path = self.env.ssh.config_file
        if not path:
            return ssh_targets.no_ssh_config
        import paramiko

        with self._known_hosts_lock:
            if self._ssh_config is None:
                expanded = os.path.expanduser(path)
                try:
                    self._ssh_config = paramiko.SSHConfig.from_path(expanded)
                except FileNotFoundError:
                    raise ConfigError(
                        f"ssh config file {expanded} not found (ssh.config_file in the inventory)"
                    ) from None
            return self._ssh_config.lookup

    def route(self, host: Host) -> Route:
        """Where the connection to `host` goes: endpoint, and the bastion or ProxyCommand in between."""
        return ssh_targets.resolve(host, self.env.ssh, self.lookup())

    def get(self, host: Host) -> Any:
        """The host's Connection, opened once per run (host key checked, TCP_NODELAY on). When open_ahead failed
        to open it, that failure is raised here (once) instead of waiting for a second connect timeout."""
        with self._host_locks[host.name]:
            failed = self._ahead_failures.pop(host.name, None)
            if failed is not None:
                raise failed
            connection = self._connections.get(host.name)
            if connection is None or not connection.is_connected:
                connection = self._open(host)
                self._connections[host.name] = connection
            return connection

    def open_ahead(self, host: Host) -> None:
        """Open the host's connection now, in the caller's thread, for a command that will use it soon; a failure
        is kept for the next get() of that host to raise."""
        with self._host_locks[host.name]:
            connection = self._connections.get(host.name)
            if connection is not None and connection.is_connected:
                return
            try:
                self._connections[host.name] = self._open(host)
            except Exception as exc:  # raised by get(), where the command that needs the host meets it
                self._ahead_failures[host.name] = exc

    def forget(self, host: Host) -> None:
        """Drop the host's connection (it was lost): the next command opens a new one."""
        connection = self._connections.pop(host.name, None)
        if connection is not None:
            connection.close()

    def _new_connection(self, endpoint: Endpoint, gateway: Any = None) -> Any:
        """A Fabric Connection to `endpoint` (not opened) that trusts only known_hosts' key for it."""
        import paramiko
        from fabric import Config

        ssh = self.env.ssh
        connect_kwargs: dict[str, Any] = {"banner_timeout": ssh.connect_timeout, "auth_timeout": ssh.connect_timeout}
        if endpoint.key_files:
            connect_kwargs["key_filename"] = [os.path.expanduser(key) for key in endpoint.key_files]
        if endpoint.only_keys:
            connect_kwargs.update(look_for_keys=False, allow_agent=False)
        config = Config(
            ssh_config=paramiko.SSHConfig(),
            overrides={"load_ssh_configs": False, "runners": {"remote": _prompt_remote()}},
        )
        connection = _connection_class()(
            endpoint.host,
            user=endpoint.user,
            port=endpoint.port,
            config=config,
            connect_timeout=math.ceil(ssh.connect_timeout),  # Fabric truncates it to an int: 0.5 would be none
            connect_kwargs=connect_kwargs,
            gateway=gateway,
        )
        connection.channel_timeout = ssh.connect_timeout
        name = endpoint.known_hosts_name
        trusted = connection.client.get_host_keys()
        for key_type, key in (self._trusted_keys().lookup(name) or {}).items():
            trusted.add(name, key_type, key)
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return connection

    def _open(self, host: Host) -> Any:
        route = self.route(host)
        target = route.target
        gateway: Any = route.proxy_command
        if route.jump is not None:
            gateway = self._bastion(route.jump, host)
        connection = self._new_connection(target, gateway)
        self._connect(connection, target, f"{host.name} ({target.where})", via=route.jump)
        return connection

    def _bastion(self, jump: Endpoint, host: Host) -> Any:
        """The run's connection to the bastion, opened on first use and shared by every host behind it.

        Opened here, before the host's own connection, so that a refusal or an unreachable bastion names
        the bastion. A failure is remembered for ssh.connect_timeout seconds: the hosts waiting for it in a
        parallel step fail at once instead of one timeout after another.
        """
        subject = f"bastion {jump.where} (jump host of {host.name})"
        with self._bastion_lock:
            failed = self._bastion_failures.get(jump)
            if failed and time.monotonic() - failed[0] < self.env.ssh.connect_timeout:
                first, error = failed[1], failed[2]
                raise OperationFailed(str(error).replace(first, subject), hint=error.hint)
            connection = self._bastions.get(jump)
            if connection is None or not connection.is_connected:
                connection = self._new_connection(jump)
                try:
                    self._connect(connection, jump, subject, via=None, bastion=True)
                except OperationFailed as exc:
                    self._bastion_failures[jump] = (time.monotonic(), subject, exc)
                    raise
                self._bastion_failures.pop(jump, None)
                self._bastions[jump] = connection
            return connection

    def _connect(
        self, connection: Any, endpoint: Endpoint, subject: str, *, via: Endpoint | None, bastion=False
    ) -> None:
        """Open `connection`; every failure becomes one OperationFailed naming `subject` and what to do."""
        import paramiko

        known_hosts = self.env.ssh.known_hosts
        try:
            connection.open()
        except paramiko.BadHostKeyException:
            raise OperationFailed(
                f"host key of {subject} does not match {known_hosts}: refusing to connect",
                hint=ssh_targets.changed_key_hint(endpoint, known_hosts, via=via),
            ) from None
        except paramiko.AuthenticationException as exc:
            login = f" for {endpoint.user}" if endpoint.user else ""
            raise OperationFailed(f"{subject} refused our SSH key{login}: {exc}") from None
        except paramiko.ChannelException as exc:  # the bastion could not open the TCP connection to the host
            raise OperationFailed(
                f"cannot reach {subject} through bastion {via.where if via else '?'}: {exc.text or exc}",
                hint="check that the host is up and that the bastion may forward TCP to it (AllowTcpForwarding)",
            ) from None
        except paramiko.SSHException as exc:
            if via is not None and "opening channel" in str(exc):  # the bastion did not answer in time
                raise OperationFailed(
                    f"cannot reach {subject} through bastion {via.where}: {exc}",
                    hint="check that the host is up and that the bastion can reach it",
                ) from None
            if "not found in known_hosts" in str(exc):
                raise OperationFailed(
                    f"{subject} is not in {known_hosts}: refusing an unknown host key",
                    hint=ssh_targets.trust_hint(endpoint, known_hosts, via=via),
                ) from None
            raise OperationFailed(f"{_verb(bastion)} {subject}: {exc}") from None
        except (OSError, EOFError) as exc:
            raise OperationFailed(
                f"{_verb(bastion)} {subject}: {_reason(exc)}",
                hint="check that the bastion is up and ssh.jump_host is right"
                if bastion
                else "check that the host is up and sshd is running",
            ) from None
        transport = connection.transport
        if isinstance(transport.sock, socket.socket):
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        """Close every host's connection, then the bastions they went through."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
        for connection in self._bastions.values():
            connection.close()
        self._bastions.clear()


def _reason(exc: BaseException) -> str:
    """Why a TCP connection failed: the OS's words (paramiko wraps them when every address failed)."""
    errors = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError: address -> OSError
    if errors:
        exc = next(iter(errors.values()))
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _verb(bastion: bool) -> str:
    return "cannot reach" if bastion else "cannot connect to"
