"""Real execution: commands, uploads and channels over the run's SSH connections; invoke for local hosts.

Every command has a timeout; output lines are prefixed with the host and masked; a noisy command folds
(ghosttasks.terminal.folding). The connections themselves (host keys, the bastion, connect errors) are
ghosttasks.execution.connections'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ghosttasks.commands.remote_file import durable_rename
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.connections import Connections
from ghosttasks.execution.executor import TIMEOUT_EXIT, UNREACHABLE_EXIT, Executor, LineWriter, Result, T
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.runlog import RunLog


class SSHExecutor(Executor):
    """Real execution: Fabric for remote hosts, invoke for hosts marked local."""

    def __init__(self, env: Environment, output: Output, log: RunLog | None = None) -> None:
        super().__init__(env, output, log)
        self.connections = Connections(env)

    def _run(
        self, host: Host, command: str, *, timeout: float, stream: bool | str, assume: str, stdin: str | None = None
    ) -> Result:
        fold = self.fold(host, command, stream) if stream else None
        if fold is None:
            writers = (LineWriter(self.output, host.name), LineWriter(self.output, host.name, stderr=True))
            return self._execute(host, command, timeout=timeout, writers=writers if stream else None, stdin=stdin)
        fold.start()
        writers = (fold.writer("stdout"), fold.writer("stderr"))
        result = self._execute(host, command, timeout=timeout, writers=writers, stdin=stdin)
        return dataclasses.replace(result, tail=fold.finish(result.ok, result.duration))

    def _execute(
        self, host: Host, command: str, *, timeout: float, writers: tuple[Any, Any] | None, stdin: str | None
    ) -> Result:
        """Run the command; with writers, its stdout and stderr go to them line by line as they come."""
        from invoke.exceptions import CommandTimedOut
        from paramiko.ssh_exception import SSHException

        runner = self._local_context(host) if host.local else self.connections.get(host)
        kwargs: dict[str, Any] = {"hide": writers is None, "warn": True, "timeout": timeout, "in_stream": False}
        if stdin is not None:  # read to its end, then the remote stdin is closed (EOF); never echoed
            kwargs.update(in_stream=io.StringIO(stdin), echo_stdin=False)
        if host.local and host.env:
            kwargs["env"] = dict(host.env)
        out, err = writers or (None, None)
        if writers:
            kwargs.update(out_stream=out, err_stream=err)
        started = time.monotonic()
        try:
            raw = runner.run(command, **kwargs)
        except CommandTimedOut as exc:
            return Result(host.name, command, exc.result.stdout, exc.result.stderr, TIMEOUT_EXIT, timeout, True)
        except (OSError, EOFError, SSHException) as exc:
            self.connections.forget(host)
            lost = f"connection lost: {exc or type(exc).__name__}"
            return Result(host.name, command, "", lost, UNREACHABLE_EXIT, time.monotonic() - started)
        finally:
            for writer in writers or ():
                writer.end()
        return Result(host.name, command, raw.stdout, raw.stderr, raw.exited, time.monotonic() - started)

    def _local_context(self, host: Host) -> Any:
        from invoke import Context

        return Context()

    def put(self, host: Host, content: str, path: str, *, mode: int = 0o644) -> None:
        started = time.monotonic()
        if host.local:
            _write_local(os.path.expanduser(path), content, mode)
        else:
            sftp = self.connections.get(host).sftp()
            if path.startswith("~/"):
                path = sftp.normalize(".") + path[1:]
            temporary = f"{path}.ghosttasks-tmp-{os.getpid()}-{threading.get_ident()}"
            with sftp.open(temporary, "w") as handle:
                handle.chmod(mode)
                handle.write(content.encode())
            # SFTP has no fsync (paramiko lacks fsync@openssh.com): sync the file, rename, sync the directory.
            durable = self._execute(host, durable_rename(temporary, path), timeout=30, writers=None, stdin=None)
            if not durable.ok:
                raise OperationFailed(f"could not move {temporary} into place on {host.name}: {durable.describe()}")
        if self.log:
            self.log.upload(host.name, path, mode, time.monotonic() - started)

    def probe(self, description: str, check: Callable[[], T], *, assume: T) -> T:
        return check()

    def connect_ahead(self, hosts: Iterable[Host]) -> None:
        for host in hosts:
            if not host.local:
                self.ahead(lambda host=host: self.connections.open_ahead(host))

    def ahead(self, work: Callable[[], object]) -> None:
        def quietly() -> None:
            with contextlib.suppress(Exception):  # left for the later use to meet, in its place
                work()

        threading.Thread(target=quietly, daemon=True, name="ahead").start()

    def open_channel(self, host: Host, address: str, port: int, *, timeout: float) -> Any:
        """A direct-tcpip channel to (address, port) over the run's connection to `host` (probes through SSH).

        When the connection goes through a jump host (Fabric's gateway Connection), the jump host opens the
        TCP connection; else the host's own sshd does. paramiko's errors propagate (ghosttasks.execution.tunnels maps
        them); a connection that cannot be opened raises OperationFailed as for a command.
        """
        connection = self.connections.get(host)
        gateway = connection.gateway
        carrier = gateway if gateway is not None and not isinstance(gateway, str) else connection
        return carrier.transport.open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout)

    def close(self) -> None:
        super().close()  # the probes' client through SSH first: its channels ride on these connections
        self.connections.close()


def _write_local(path: str, content: str, mode: int) -> None:
    """Write, fsync, rename, fsync the directory: a kill or a crash leaves the old file or the new one."""
    temporary = f"{path}.ghosttasks-tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
