"""The lab's docker registry: its config, its htpasswd (bcrypt) and the password file the operator's side reads.

Debian's docker-registry (distribution v2) on the topology's registry address, port 5000, plain HTTP
(Docker treats 127.0.0.0/8 as insecure registries by default; the lab's daemon.json keeps that
default), htpasswd authentication for one user. The password is one of the lab's marker secrets:
it must never appear in a log, the state, the history, a process's argv or a file on the hosts.
"""

from __future__ import annotations

import secrets

import bcrypt

from lab.labctl.files import render, write_file
from lab.labctl.hosts import REGISTRY_PORT, REGISTRY_USER, Topology
from lab.labctl.paths import Layout
from lab.labctl.provisioning import ensure_secrets

#: bcrypt's cost in the htpasswd file. The registry checks the password on every request (a push or pull makes dozens)
#: with no token in between: at the usual 10 rounds that is about 80 ms of CPU each, which a registry with token
#: authentication (Docker Hub, GHCR, ECR, Harbor) pays once per session. 4, bcrypt's least, about 2 ms.
BCRYPT_ROUNDS = 4


def registry_password(lay: Layout) -> str:
    """The registry password (a marker secret of the lab)."""
    return ensure_secrets(lay)["REGISTRY_PASSWORD"]


def write_registry_config(lay: Layout, topo: Topology) -> bool:
    """config.yml, htpasswd and the operator's password file; True when the registry must restart."""
    password = registry_password(lay)
    directory = lay.registry_dir
    (directory / "data").mkdir(parents=True, exist_ok=True)
    htpasswd = directory / "htpasswd"
    changed = not _htpasswd_matches(htpasswd.read_bytes() if htpasswd.exists() else b"", password)
    if changed:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
        write_file(htpasswd, f"{REGISTRY_USER}:{hashed}\n", 0o600)
    secret_file = directory / "http-secret"
    if not secret_file.exists():
        write_file(secret_file, secrets.token_hex(16), 0o600)
    config = render(
        "registry.yml.j2",
        address=topo.registry_addr,
        port=REGISTRY_PORT,
        data_dir=directory / "data",
        htpasswd=htpasswd,
        http_secret=secret_file.read_text().strip(),
    )
    changed = write_file(directory / "config.yml", config, 0o600) or changed
    lay.registry_password_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_file(lay.registry_password_file, password + "\n", 0o600)
    return changed


def _htpasswd_matches(text: bytes, password: str) -> bool:
    user, _, hashed = text.strip().partition(b":")
    cost = hashed.split(b"$")[2:3] == [b"%02d" % BCRYPT_ROUNDS]
    return user == REGISTRY_USER.encode() and cost and bcrypt.checkpw(password.encode(), hashed)
