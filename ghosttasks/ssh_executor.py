"""Real execution: Fabric over SSH for remote hosts, invoke for hosts marked local.

- One Fabric Connection per host per run, opened on first use and reused (TCP_NODELAY set).
- Host keys are checked against the inventory's known_hosts (RejectPolicy); unknown or changed
  keys are refused with the command that would trust the host.
- Every command has a timeout; output lines are prefixed with the host and masked.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ghosttasks.errors import ConfigError, OperationFailed
from ghosttasks.executor import TIMEOUT_EXIT, UNREACHABLE_EXIT, Executor, LineWriter, Result, T
from ghosttasks.inventory import Environment, Host
from ghosttasks.output import Output
from ghosttasks.runlog import RunLog


@functools.cache
def _prompt_remote() -> type:
    """Fabric's Remote runner polling for the command's end every 2 ms instead of Invoke's 10 ms.

    A deploy runs dozens of short commands per host; the 10 ms poll was most of their latency.
    """
    from fabric.runners import Remote

    class PromptRemote(Remote):
        input_sleep = 0.002

    return PromptRemote


class SSHExecutor(Executor):
    """Real execution: Fabric for remote hosts, invoke for hosts marked local."""

    def __init__(self, env: Environment, output: Output, log: RunLog | None = None) -> None:
        super().__init__(env, output, log)
        self._connections: dict[str, Any] = {}
        self._host_locks: dict[str, threading.Lock] = {host.name: threading.Lock() for host in env.hosts}
        self._known_hosts: Any = None
        self._known_hosts_lock = threading.Lock()

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

    def _run(self, host: Host, command: str, *, timeout: float, stream: bool, assume: str) -> Result:
        from invoke.exceptions import CommandTimedOut
        from paramiko.ssh_exception import SSHException

        runner = self._local_context(host) if host.local else self.connection(host)
        kwargs: dict[str, Any] = {"hide": not stream, "warn": True, "timeout": timeout, "in_stream": False}
        if host.local and host.env:
            kwargs["env"] = dict(host.env)
        out = LineWriter(self.output, host.name)
        err = LineWriter(self.output, host.name, stderr=True)
        if stream:
            kwargs.update(out_stream=out, err_stream=err)
        started = time.monotonic()
        try:
            raw = runner.run(command, **kwargs)
        except CommandTimedOut as exc:
            return Result(host.name, command, exc.result.stdout, exc.result.stderr, TIMEOUT_EXIT, timeout, True)
        except (OSError, EOFError, SSHException) as exc:
            self._forget(host)
            lost = f"connection lost: {exc or type(exc).__name__}"
            return Result(host.name, command, "", lost, UNREACHABLE_EXIT, time.monotonic() - started)
        finally:
            out.flush()
            err.flush()
        return Result(host.name, command, raw.stdout, raw.stderr, raw.exited, time.monotonic() - started)

    def _local_context(self, host: Host) -> Any:
        from invoke import Context

        return Context()

    def connection(self, host: Host) -> Any:
        """The host's Connection, opened once per run (host key checked, TCP_NODELAY on)."""
        with self._host_locks[host.name]:
            connection = self._connections.get(host.name)
            if connection is None or not connection.is_connected:
                connection = self._open(host)
                self._connections[host.name] = connection
            return connection

    def _forget(self, host: Host) -> None:
        connection = self._connections.pop(host.name, None)
        if connection is not None:
            connection.close()

    def _new_connection(self, address: str, port: int, user: str | None, gateway: Any = None) -> Any:
        import paramiko
        from fabric import Config, Connection

        ssh = self.env.ssh
        connect_kwargs: dict[str, Any] = {"banner_timeout": ssh.connect_timeout, "auth_timeout": ssh.connect_timeout}
        if ssh.key_file:
            connect_kwargs.update(key_filename=os.path.expanduser(ssh.key_file), look_for_keys=False, allow_agent=False)
        config = Config(
            ssh_config=paramiko.SSHConfig(),
            overrides={"load_ssh_configs": False, "runners": {"remote": _prompt_remote()}},
        )
        connection = Connection(
            address,
            user=user,
            port=port,
            config=config,
            connect_timeout=ssh.connect_timeout,
            connect_kwargs=connect_kwargs,
            gateway=gateway,
        )
        name = address if port == 22 else f"[{address}]:{port}"
        trusted = connection.client.get_host_keys()
        for key_type, key in (self._trusted_keys().lookup(name) or {}).items():
            trusted.add(name, key_type, key)
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return connection

    def _open(self, host: Host) -> Any:
        import paramiko

        ssh = self.env.ssh
        port = host.port or ssh.port
        gateway = self._new_connection(ssh.jump_host, 22, ssh.user) if ssh.jump_host else None
        connection = self._new_connection(host.address, port, host.user or ssh.user, gateway)
        target = f"{host.address}:{port}"
        trust = f"ssh-keyscan -p {port} {host.address} >> {ssh.known_hosts} (after checking the fingerprint)"
        try:
            connection.open()
        except paramiko.BadHostKeyException:
            raise OperationFailed(
                f"host key of {host.name} ({target}) does not match {ssh.known_hosts}: refusing to connect",
                hint=f"if the host was rebuilt, remove its old key (ssh-keygen -R '[{host.address}]:{port}' "
                f"-f {ssh.known_hosts}) and run {trust}",
            ) from None
        except paramiko.AuthenticationException as exc:
            raise OperationFailed(f"{host.name} ({target}) refused our SSH key: {exc}") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise OperationFailed(
                    f"{host.name} ({target}) is not in {ssh.known_hosts}: refusing an unknown host key",
                    hint=f"to trust it: {trust}",
                ) from None
            raise OperationFailed(f"cannot connect to {host.name} ({target}): {exc}") from None
        except (OSError, EOFError) as exc:
            raise OperationFailed(
                f"cannot connect to {host.name} ({target}): {exc.strerror or exc}",
                hint="check that the host is up and sshd is running",
            ) from None
        transport = connection.transport
        if isinstance(transport.sock, socket.socket):
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def put(self, host: Host, content: str, path: str, *, mode: int = 0o644) -> None:
        started = time.monotonic()
        if host.local:
            _write_local(os.path.expanduser(path), content, mode)
        else:
            sftp = self.connection(host).sftp()
            if path.startswith("~/"):
                path = sftp.normalize(".") + path[1:]
            temporary = f"{path}.ghosttasks-tmp-{os.getpid()}-{threading.get_ident()}"
            with sftp.open(temporary, "w") as handle:
                handle.chmod(mode)
                handle.write(content.encode())
            sftp.posix_rename(temporary, path)
        if self.log:
            self.log.upload(host.name, path, mode, time.monotonic() - started)

    def probe(self, description: str, check: Callable[[], T], *, assume: T) -> T:
        return check()

    def open_channel(self, host: Host, address: str, port: int, *, timeout: float) -> Any:
        """A direct-tcpip channel to (address, port) over the run's connection to `host` (probes through SSH).

        When the connection goes through a jump host (Fabric's gateway Connection), the jump host opens the
        TCP connection; else the host's own sshd does. paramiko's errors propagate (ghosttasks.tunnels maps
        them); a connection that cannot be opened raises OperationFailed as for a command.
        """
        connection = self.connection(host)
        gateway = connection.gateway
        carrier = gateway if gateway is not None and not isinstance(gateway, str) else connection
        return carrier.transport.open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout)

    def close(self) -> None:
        super().close()  # the probes' client through SSH first: its channels ride on these connections
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def _write_local(path: str, content: str, mode: int) -> None:
    temporary = f"{path}.ghosttasks-tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
