"""Probes of public HTTPS URLs verify with probes.ca_file (a private CA) or the system trust store; a
certificate that does not verify is one line naming the URL, the issuer and the setting, never an unhealthy
answer; nothing turns verification off. Against a real TLS server on 127.0.0.1 with a CA made here."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ghosttasks.config.settings import ProbeSettings
from ghosttasks.domain.errors import ConfigError, OperationFailed
from ghosttasks.execution import probes, trust


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject, issuer, public, signer, *, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 answering the health contract, its certificate from a CA made here."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("Ghostlab Test CA"), _name("Ghostlab Test CA"), ca_key.public_key(), ca_key, ca=True)
    leaf = _cert(_name("127.0.0.1"), ca.subject, key.public_key(), ca_key, ca=False)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "server.key").write_bytes(pem_key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": "ok", "version": "v1.0.0"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/api/v1/health", folder / "ca.pem"
    server.shutdown()


@pytest.fixture(autouse=True)
def system_trust():
    trust.configure(None)
    yield
    trust.configure(None)


def test_without_the_ca_the_probe_fails_with_one_line_naming_url_issuer_and_setting(tls_server):
    url, _ = tls_server
    with pytest.raises(OperationFailed) as caught:
        probes.check_tls(url)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"TLS verification failed for {url}: certificate issued by 'CN=Ghostlab Test CA'")
    assert message.endswith("trusted: the system trust store (probes.ca_file is not set)")
    assert "probes.ca_file" in caught.value.hint and "cannot be turned off" in caught.value.hint


def test_an_untrusted_certificate_is_no_unhealthy_answer(tls_server):
    """The health probe, the traffic sample and the correlation probe all stop on it (no retry, no rollback
    counted as 5xx): the operator's trust is wrong, not the app."""
    url, _ = tls_server
    with pytest.raises(OperationFailed, match="TLS verification failed"):
        probes.check_health(url)
    with pytest.raises(OperationFailed, match="TLS verification failed"):
        probes.sample_traffic(url, 2)
    with pytest.raises(OperationFailed, match="TLS verification failed"):
        probes.send_with_request_id(url, "abc")


def test_with_probes_ca_file_every_probe_verifies(tls_server):
    url, ca = tls_server
    trust.configure(str(ca))
    probes.check_tls(url)
    health = probes.check_health(url)
    assert health.ok and health.version == "v1.0.0"
    assert probes.sample_traffic(url, 3).total == 3
    assert trust.setting() == f"probes.ca_file ({ca})"


def test_a_ca_file_for_another_ca_names_it(tls_server, tmp_path):
    url, _ = tls_server
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert(_name("Other CA"), _name("Other CA"), other_key.public_key(), other_key, ca=True)
    (tmp_path / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    trust.configure(str(tmp_path / "other.pem"))
    with pytest.raises(OperationFailed, match=rf"trusted: probes.ca_file \({tmp_path}/other.pem\)$"):
        probes.check_tls(url)


def test_a_missing_ca_file_is_a_config_error(tmp_path):
    trust.configure(str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match=r"probes\.ca_file: .*nope\.pem is not a readable file"):
        trust.context()


def test_plain_http_errors_are_left_to_the_probes():
    assert trust.untrusted("http://127.0.0.1:9/", ConnectionRefusedError()) is None
    probes.check_tls("https://127.0.0.1:9/")  # refused: not a TLS verdict, the health probes report it


def test_no_setting_turns_verification_off():
    assert set(ProbeSettings.model_fields) == {"via", "ca_file"}
    assert trust.context().verify_mode == ssl.CERT_REQUIRED and trust.context().check_hostname
