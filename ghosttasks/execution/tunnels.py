"""HTTP through SSH: an httpcore network backend whose connections are SSH direct-tcpip channels.

httpx and tenacity stay as they are. A probe to an internal address gets the run's httpx client for
the SSH way (Executor.http_client): httpx's own HTTPTransport over an httpcore.ConnectionPool whose
network backend is SSHBackend. Every new HTTP connection is a direct-tcpip channel opened on an
SSH connection the run already has (ghosttasks.decisions.probe_routes picks it: the jump host opens the TCP
connection at the far end when there is one, else the host's own sshd). Idle connections are kept
alive in the pool like any other httpx connection. Nothing listens on this machine: no local port
forward that another local user could connect to.

A channel that cannot be opened (nothing accepts the connection at the far end, the SSH connection
is down, the open times out) becomes an httpcore ConnectError or ConnectTimeout — httpx.ConnectError or
ConnectTimeout to the probes, whose retries and deadlines stay as they are — and its message names the
path: "<address>:<port> via SSH through <machine>: ...".
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx
from paramiko.ssh_exception import ChannelException, SSHException

from ghosttasks.config.inventory import Environment
from ghosttasks.decisions.probe_routes import route_to
from ghosttasks.domain.errors import OperationFailed

#: Seconds a channel may take to open when the request has no connect timeout.
CHANNEL_TIMEOUT = 10.0
#: Default timeout of the client's requests (the probes pass their own).
REQUEST_TIMEOUT = 10.0
TLS_RECORD_SIZE = 16384

#: (carrier host, address, port, *, timeout) -> an open channel: SSHExecutor.open_channel.
OpenChannel = Callable[..., Any]


@contextmanager
def _mapped(timeout_error: type[Exception], other_error: type[Exception]) -> Iterator[None]:
    """Channel failures as the httpcore exceptions httpx maps to its own."""
    try:
        yield
    except TimeoutError as exc:  # socket.timeout from Channel.recv/sendall
        raise timeout_error(str(exc) or "timed out") from exc
    except (OSError, EOFError, SSHException) as exc:
        raise other_error(str(exc) or type(exc).__name__) from exc


def _readable(channel: Any) -> bool:
    """Data or EOF waiting: an idle pooled connection the server has closed (httpcore's `is_readable`)."""
    return bool(channel.recv_ready() or channel.closed or channel.eof_received)


class ChannelStream(httpcore.NetworkStream):
    """One HTTP connection over one channel (a paramiko Channel, or anything with its socket-like methods)."""

    def __init__(self, channel: Any, peer: tuple[str, int]) -> None:
        self._channel, self._peer = channel, peer

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            self._channel.settimeout(timeout)
            return self._channel.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            self._channel.settimeout(timeout)
            self._channel.sendall(buffer)

    def close(self) -> None:
        self._channel.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        try:
            with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
                return TLSChannelStream(self._channel, self._peer, ssl_context, server_hostname, timeout)
        except BaseException:
            self.close()
            raise

    def get_extra_info(self, info: str) -> Any:
        if info == "server_addr":
            return self._peer
        if info == "is_readable":
            return _readable(self._channel)
        return None


class TLSChannelStream(httpcore.NetworkStream):
    """TLS over a channel (https internal URLs): the ssl module over memory buffers, as a channel is no socket."""

    def __init__(
        self,
        channel: Any,
        peer: tuple[str, int],
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        self._channel, self._peer = channel, peer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ssl_context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._channel.settimeout(timeout)
        self._pump(self._tls.do_handshake)

    def _pump(self, operation: Callable[[], Any]) -> Any:
        """Run one TLS operation, sending what it wrote and feeding it what it waits for."""
        while True:
            wants_input = False
            try:
                result = operation()
            except ssl.SSLWantReadError:
                wants_input = True
            pending = self._outgoing.read()
            if pending:
                self._channel.sendall(pending)
            if not wants_input:
                return result
            data = self._channel.recv(TLS_RECORD_SIZE)
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            self._channel.settimeout(timeout)
            try:
                return self._pump(functools.partial(self._tls.read, max_bytes))
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""  # the server closed (with or without close_notify): end of stream, as for a socket

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            self._channel.settimeout(timeout)
            view = memoryview(buffer)
            while view:
                written = self._pump(functools.partial(self._tls.write, view))
                view = view[written:]

    def close(self) -> None:
        self._channel.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        raise NotImplementedError("TLS inside TLS over an SSH channel")

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._tls
        if info == "server_addr":
            return self._peer
        if info == "is_readable":
            return bool(self._incoming.pending) or _readable(self._channel)
        return None


class SSHBackend(httpcore.NetworkBackend):
    """Opens each HTTP connection as a direct-tcpip channel on the SSH connection probe_routes picks."""

    def __init__(self, env: Environment, open_channel: OpenChannel) -> None:
        self._env, self._open_channel = env, open_channel

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        route = route_to(self._env, host)
        if route.carrier is None:  # a local host: this machine itself
            return httpcore.SyncBackend().connect_tcp(host, port, timeout, local_address, socket_options)
        where = f"{host}:{port} via SSH through {route.through}"
        wait = timeout or CHANNEL_TIMEOUT
        try:
            channel = self._open_channel(route.carrier, host, port, timeout=wait)
        except OperationFailed as exc:  # the SSH connection itself could not be opened
            raise httpcore.ConnectError(f"{where}: {exc}") from exc
        except ChannelException as exc:  # the far end refused to open it (its connect failed, or forwarding is off)
            raise httpcore.ConnectError(f"{where}: {route.through} could not open the channel ({exc.text})") from exc
        except SSHException as exc:
            if "timeout" in str(exc).lower():
                raise httpcore.ConnectTimeout(f"{where}: the channel did not open within {round(wait, 1):g} s") from exc
            raise httpcore.ConnectError(f"{where}: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise httpcore.ConnectError(f"{where}: SSH connection lost ({str(exc) or type(exc).__name__})") from exc
        return ChannelStream(channel, (host, port))


class TunnelTransport(httpx.HTTPTransport):
    """httpx's HTTPTransport — its request and exception mapping, as for every probe — over SSHBackend."""

    def __init__(
        self,
        backend: httpcore.NetworkBackend,
        *,
        limits: httpx.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # httpx 0.28 takes no network backend (encode/httpx#3749 proposes `network_backend=`). Its
        # handle_request() and close() use only the httpcore pool in self._pool, so the pool is built
        # here, with HTTPTransport's defaults, instead of calling HTTPTransport.__init__: an httpx that
        # renamed the attribute fails on the first request instead of silently connecting directly.
        limits = limits or httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def tunnel_client(env: Environment, open_channel: OpenChannel) -> httpx.Client:
    """The run's one client for probes through SSH (environment proxy settings never apply to it)."""
    from ghosttasks.execution import trust

    transport = TunnelTransport(SSHBackend(env, open_channel), ssl_context=trust.context())  # probes.ca_file too
    return httpx.Client(transport=transport, trust_env=False, timeout=REQUEST_TIMEOUT)
