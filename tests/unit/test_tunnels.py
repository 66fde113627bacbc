"""The SSH network backend over fake channels: real HTTP (and TLS) exchanges through httpx, failures named.

A FakeChannel is one end of a socketpair with paramiko Channel's methods; a real HTTP server
(http.server's handler) answers on the other end, in a thread, as the far end of a direct-tcpip
channel would.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from paramiko.ssh_exception import ChannelException, SSHException

from ghosttasks import testing
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.tunnels import SSHBackend, TunnelTransport, tunnel_client

ROOT = Path(__file__).resolve().parents[2]
APP1_API = "http://app1.internal.ghostworks.dev:8001/api/v1/health"
PROMETHEUS = "http://prometheus.internal.ghostworks.dev:9090"
FAST = probes.RetryPolicy(deadline=5, initial=0, maximum=0, attempts=3)


class FakeChannel:
    """paramiko Channel's socket-like surface over one end of a socketpair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.closed, self.eof_received = sock, False, False

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def recv(self, size):
        data = self.sock.recv(size)
        self.eof_received = self.eof_received or not data
        return data

    def sendall(self, data):
        self.sock.sendall(data)

    def recv_ready(self):
        import select

        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    def close(self):
        self.closed = True
        self.sock.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says Connection: close

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Host")))
        if self.path.startswith("/api/v1/query"):
            body = {"status": "success", "data": {"result": [{"value": [0, "0.25"]}]}}
        else:
            body = {"status": "ok", "version": "v1.2.0", "color": "blue"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.server.close_after_each:
            self.close_connection = True

    def log_message(self, *args):
        pass


class FarEnd:
    """Opens channels as SSHExecutor.open_channel would, each served by the real HTTP handler in a thread."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, close_after_each: bool = False, fail=None) -> None:
        self.opened: list[tuple[str, str, int, float]] = []
        self.seen: list[tuple[str, str]] = []
        self.tls, self.close_after_each, self.fail = tls, close_after_each, fail
        self.threads: list[threading.Thread] = []

    def __call__(self, carrier, address, port, *, timeout):
        self.opened.append((carrier.name, address, port, timeout))
        if self.fail is not None:
            raise self.fail
        ours, theirs = socket.socketpair()
        thread = threading.Thread(target=self._serve, args=(theirs,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return FakeChannel(ours)

    def _serve(self, sock):
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            Handler(sock, ("far-end", 0), self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()


@pytest.fixture
def prod():
    env = testing.prod()
    ssh = env.ssh.model_copy(update={"jump_host": "deploy@bastion.ghostworks.dev:22"})
    return env.model_copy(update={"ssh": ssh})


def test_a_health_probe_is_a_real_http_exchange_over_the_channel_of_the_host_it_probes(prod):
    far = FarEnd()
    with tunnel_client(prod, far) as client:
        health = probes.check_health(APP1_API, expect_version="v1.2.0", client=client, timeout=3)
    assert health.ok and health.version == "v1.2.0" and health.body["color"] == "blue", health
    assert far.opened == [("app1", "app1.internal.ghostworks.dev", 8001, 3)]
    assert far.seen == [("/api/v1/health", "app1.internal.ghostworks.dev:8001")]


def test_connections_are_kept_alive_through_the_tunnel(prod):
    far = FarEnd()
    with tunnel_client(prod, far) as client:
        values = [probes.prometheus_query(PROMETHEUS, "up", client=client) for _ in range(3)]
    assert values == [0.25, 0.25, 0.25]
    assert len(far.opened) == 1 and len(far.seen) == 3
    assert far.opened[0][:3] == ("lb1", "prometheus.internal.ghostworks.dev", 9090)  # no host has that address


def test_a_connection_the_server_closed_is_not_reused(prod):
    far = FarEnd(close_after_each=True)
    with tunnel_client(prod, far) as client:
        assert probes.prometheus_query(PROMETHEUS, "up", client=client) == 0.25
        far.threads[0].join(5)  # the far end has closed it (without saying so): the pool must notice
        assert not far.threads[0].is_alive()
        assert probes.prometheus_query(PROMETHEUS, "up", client=client) == 0.25
    assert len(far.opened) == 2


def test_many_probes_at_once_share_the_client(prod):
    far = FarEnd()
    with tunnel_client(prod, far) as client:
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(probes.check_health(APP1_API, client=client)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(results) == 8 and all(health.ok for health in results)


@pytest.mark.parametrize(
    ("failure", "kind", "detail"),
    [
        (
            ChannelException(2, "Connect failed"),
            "ConnectError",
            "bastion.ghostworks.dev could not open the channel (Connect failed)",
        ),
        (SSHException("Timeout opening channel."), "ConnectTimeout", "the channel did not open within 5 s"),
        (
            OperationFailed("cannot reach bastion bastion.ghostworks.dev:22 (jump host of app1): Connection refused"),
            "ConnectError",
            "cannot reach bastion bastion.ghostworks.dev:22",
        ),
        (EOFError(), "ConnectError", "SSH connection lost (EOFError)"),
    ],
)
def test_a_channel_that_cannot_be_opened_is_a_connect_error_that_names_the_path(prod, failure, kind, detail):
    far = FarEnd(fail=failure)
    with tunnel_client(prod, far) as client:
        health = probes.wait_healthy(APP1_API, policy=FAST, client=client)
    assert not health.ok and not health.connected and health.attempts == 3
    prefix = f"{kind}: app1.internal.ghostworks.dev:8001 via SSH through bastion.ghostworks.dev: "
    assert health.error.startswith(prefix) and detail in health.error, health.error
    assert "refused" not in health.error.lower() or "bastion" in health.error


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus.internal.ghostworks.dev")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("prometheus.internal.ghostworks.dev"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_https_inside_the_channel_verifies_the_server_certificate(prod, tmp_path):
    cert_file, key_file = _certificate(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    far = FarEnd(tls=server)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    transport = TunnelTransport(SSHBackend(prod, far), ssl_context=trusting)
    with httpx.Client(transport=transport, trust_env=False) as client:
        value = probes.prometheus_query("https://prometheus.internal.ghostworks.dev:9443", "up", client=client)
        answer = client.get("https://prometheus.internal.ghostworks.dev:9443/api/v1/query?query=up")
    assert value == 0.25 and answer.status_code == 200
    assert len(far.opened) == 1  # the TLS connection was kept alive too

    strict = TunnelTransport(SSHBackend(prod, FarEnd(tls=server)))  # the system CAs: our test CA is unknown
    with httpx.Client(transport=strict, trust_env=False) as client, pytest.raises(OperationFailed) as caught:
        probes.check_health("https://prometheus.internal.ghostworks.dev:9443/-/healthy", client=client)
    # no unhealthy answer: one line, the issuer not read (this machine may not reach the address)
    assert str(caught.value).startswith(
        "TLS verification failed for https://prometheus.internal.ghostworks.dev:9443/-/healthy: certificate issued "
        "by an issuer not read (the probe went through SSH)"
    )


def test_the_transport_really_uses_the_ssh_backend(prod):
    """TunnelTransport sets httpx's private pool: an httpx that changed it must fail here, never go direct."""
    far = FarEnd()
    transport = TunnelTransport(SSHBackend(prod, far))
    with httpx.Client(transport=transport, trust_env=False) as client:
        assert client.get(APP1_API, timeout=3).status_code == 200
    assert far.opened, "the request did not go through the SSH backend"
