"""HMAC-signed JWTs (HS256/384/512) and PBKDF2 password hashes, stdlib only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
PBKDF2_ITERATIONS = 100_000


class TokenError(ValueError):
    """The token is malformed, forged, of the wrong type or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, algorithm: str, signing_input: str) -> bytes:
    if algorithm not in ALGORITHMS:
        raise TokenError(f"unsupported algorithm {algorithm!r}")
    return hmac.new(key.encode(), signing_input.encode(), ALGORITHMS[algorithm]).digest()


def sign(claims: dict, key: str, algorithm: str = "HS256") -> str:
    """Return a compact JWT carrying `claims`, signed with `key`."""
    header = _b64(json.dumps({"alg": algorithm, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{_b64(_mac(key, algorithm, signing_input))}"


def verify(token: str, key: str, algorithm: str = "HS256", typ: str = "access", now: float | None = None) -> dict:
    """Return the claims of `token` if its signature, algorithm, `typ` claim and expiry are good; else TokenError."""
    try:
        header_b64, payload_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        claims = json.loads(_unb64(payload_b64))
        signature = _unb64(sig_b64)
    except ValueError as exc:
        raise TokenError("malformed token") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("malformed token")
    if header.get("alg") != algorithm:
        raise TokenError("unexpected algorithm")
    if not hmac.compare_digest(signature, _mac(key, algorithm, f"{header_b64}.{payload_b64}")):
        raise TokenError("bad signature")
    if claims.get("typ") != typ:
        raise TokenError(f"not an {typ} token")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= (time.time() if now is None else now):
        raise TokenError("token expired")
    return claims


def issue(subject: dict, key: str, algorithm: str, typ: str, lifetime_s: int, now: float | None = None) -> str:
    """Sign `subject` plus typ/iat/exp/jti claims valid for `lifetime_s` seconds."""
    iat = int(time.time() if now is None else now)
    claims = {**subject, "typ": typ, "iat": iat, "exp": iat + lifetime_s, "jti": secrets.token_hex(8)}
    return sign(claims, key, algorithm)


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Return `pbkdf2_sha256$iterations$salt$hash` for `password`."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """True when `password` matches the `hash_password` string `stored`."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, _unb64(digest))
