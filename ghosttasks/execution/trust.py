"""Which CAs the direct HTTPS probes trust: `probes.ca_file` (a PEM file on this machine), else the system trust
store; never certifi's bundle alone, never no verification.

One process runs one environment: the executor sets the trust once (configure), and every direct httpx client the
probes make takes `context()`. A probe whose certificate does not verify fails with one line (`untrusted`): the
URL, the certificate's issuer and the setting that decides the trust. The issuer is read from the certificate
the server presented, on a connection that sends nothing and is closed at once: it is only for the message.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

from ghosttasks.domain.errors import ConfigError, OperationFailed

_lock = threading.Lock()
_ca_file: str | None = None
_context: ssl.SSLContext | None = None


def configure(ca_file: str | None) -> None:
    """Trust `ca_file` (PEM, `~` expanded) for direct probes from now on; None: the system trust store."""
    global _ca_file, _context
    with _lock:
        _ca_file = str(Path(ca_file).expanduser()) if ca_file else None
        _context = None


def setting() -> str:
    """What decides the trust, as the messages name it."""
    return f"probes.ca_file ({_ca_file})" if _ca_file else "the system trust store (probes.ca_file is not set)"


def context() -> ssl.SSLContext:
    """The SSL context every direct probe verifies with: hostname checked, certificate required."""
    global _context
    with _lock:
        if _context is None:
            if _ca_file and not Path(_ca_file).is_file():
                raise ConfigError(f"probes.ca_file: {_ca_file} is not a readable file (a PEM CA certificate)")
            try:
                _context = ssl.create_default_context(cafile=_ca_file)
            except ssl.SSLError as exc:
                raise ConfigError(f"probes.ca_file: {_ca_file} holds no usable PEM CA certificate ({exc})") from None
        return _context


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind an httpx error, if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def issuer(url: str, *, timeout: float = 5.0) -> str:
    """The issuer of the certificate the server at `url` presents (for the message only); `unknown` if unread."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    peek = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    peek.check_hostname = False
    peek.verify_mode = ssl.CERT_NONE  # nothing is sent on this connection: it reads the certificate and closes
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            peek.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return "unknown (the certificate could not be read)"
    if not der:
        return "unknown"
    from cryptography import x509

    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


def untrusted(url: str, exc: BaseException, *, direct: bool = True) -> OperationFailed | None:
    """One line for a probe whose certificate did not verify: the URL, the issuer and the setting; else None.
    `direct`: the probe went straight from this machine, so the issuer can be read the same way (through SSH it
    is not: this machine may not reach the address)."""
    failed = verification_error(exc)
    if failed is None:
        return None
    who = repr(issuer(url)) if direct else "an issuer not read (the probe went through SSH)"
    reason = failed.verify_message or str(failed)
    return OperationFailed(
        f"TLS verification failed for {url}: certificate issued by {who} ({reason}); trusted: {setting()}",
        hint="set probes.ca_file in hosts.yml to the PEM certificate of the CA that issued it "
        "(verification cannot be turned off)",
    )
