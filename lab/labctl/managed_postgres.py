"""A PostgreSQL server no lab host serves: the lab's "managed" database (issue 23).

Its own cluster (initdb as the postgres user) under the lab root, started by the supervisor like every lab daemon
(PID file, so `down()` stops it), listening on its own loopback address MANAGED_PG_ADDR:MANAGED_PG_PORT with
password authentication (scram-sha-256) over TLS only (`hostssl`, a self-signed certificate made with openssl:
clients use sslmode `require`); the local socket, in a directory only postgres can enter, is
trusted for the lab itself. It holds the shop's database (role and database `shop`, password in the lab
root) for the managed world of tests/lab/test_68_managed_postgres.py. Started on demand (`ensure`), not by `up()`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

from lab.labctl.commands import run, system_env
from lab.labctl.daemons import Daemon
from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import MANAGED_PG_ADDR, MANAGED_PG_PORT
from lab.labctl.paths import Layout
from lab.labctl.supervisor import running_pid, start_daemon, wait_ready

NAME = "managed-postgres"
DATABASE = "shop"
ROLE = "shop"
OS_USER = "postgres"


def _bindir() -> Path:
    """The server binaries of the one PostgreSQL major version installed on this machine."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise LabError(f"{NAME}: no PostgreSQL server installed (/usr/lib/postgresql/*/bin/postgres)")
    return found[-1].parent


def major_version() -> str:
    """The server's major version (the client image must have the same pg_dump)."""
    return _bindir().parent.name


def home(lay: Layout) -> Path:
    return lay.root / NAME


def data_dir(lay: Layout) -> Path:
    return home(lay) / "data"


def socket_dir(lay: Layout) -> Path:
    return home(lay) / "socket"


def password_file(lay: Layout) -> Path:
    """The shop role's password (mode 0600, root's): what the operator would keep in a secret store."""
    return home(lay) / "shop-password"


def password(lay: Layout) -> str:
    return password_file(lay).read_text().strip()


def _as_postgres(argv: list[str]) -> list[str]:
    user = pwd.getpwnam(OS_USER)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *argv]


def _init(lay: Layout) -> None:
    """initdb once: scram passwords, host connections by password only, the socket trusted (0700 dir)."""
    if (data_dir(lay) / "PG_VERSION").exists() and (data_dir(lay) / "server.key").exists():
        return
    user = pwd.getpwnam(OS_USER)
    home(lay).mkdir(mode=0o755, parents=True, exist_ok=True)
    for directory in (data_dir(lay), socket_dir(lay)):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(mode=0o700)
        os.chown(directory, user.pw_uid, user.pw_gid)
    argv = [str(_bindir() / "initdb"), "-D", str(data_dir(lay)), "-U", OS_USER, "--auth-local=trust"]
    run(NAME, _as_postgres([*argv, "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]), env=system_env())
    hba = "local all all trust\nhostssl all all 127.0.0.0/8 scram-sha-256\n"
    (data_dir(lay) / "pg_hba.conf").write_text(hba)
    certificate, key = data_dir(lay) / "server.crt", data_dir(lay) / "server.key"
    argv = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        f"/CN={MANAGED_PG_ADDR}",
    ]
    run(NAME, [*argv, "-keyout", str(key), "-out", str(certificate)], env=system_env())
    for path in (certificate, key):
        path.chmod(0o600)
        os.chown(path, user.pw_uid, user.pw_gid)
    if not password_file(lay).exists():
        write_file(password_file(lay), f"ghostlab-managed-pg-secret-{secrets.token_hex(12)}\n", 0o600)


def daemon(lay: Layout) -> Daemon:
    argv = [
        str(_bindir() / "postgres"),
        "-D",
        str(data_dir(lay)),
        "-c",
        f"listen_addresses={MANAGED_PG_ADDR}",
        "-c",
        f"port={MANAGED_PG_PORT}",
        "-c",
        f"unix_socket_directories={socket_dir(lay)}",
        "-c",
        "password_encryption=scram-sha-256",
        "-c",
        "ssl=on",
        "-c",
        "fsync=off",
    ]
    return Daemon(NAME, tuple(_as_postgres(argv)), f"{MANAGED_PG_ADDR}:{MANAGED_PG_PORT}", lambda: _answers())


def _answers() -> bool:
    try:
        with socket.create_connection((MANAGED_PG_ADDR, MANAGED_PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def psql(lay: Layout, sql: str, *, database: str = "postgres") -> str:
    """SQL as the superuser over the trusted socket (the lab's own look, not the tool's), on psql's stdin: a
    password it sets is never in a command line."""
    argv = [str(_bindir() / "psql"), "-h", str(socket_dir(lay)), "-p", str(MANAGED_PG_PORT), "-U", OS_USER]
    argv += ["-d", database, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"]
    result = subprocess.run(_as_postgres(argv), input=sql, capture_output=True, text=True, env=system_env(), timeout=60)
    if result.returncode != 0:
        raise LabError(f"{NAME}: psql exited {result.returncode}: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


def ensure(lay: Layout) -> str:
    """The managed server up with the shop's role (its password set) and database; returns where it listens."""
    _init(lay)
    state, _ = start_daemon(lay, daemon(lay))
    if state == "started":
        wait_ready(lay, [daemon(lay)], timeout=60)
    secret = password(lay).replace("'", "''")
    psql(lay, f"DO $$BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    psql(lay, f"ALTER ROLE {ROLE} PASSWORD '{secret}'")
    if psql(lay, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":
        psql(lay, f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    return f"{MANAGED_PG_ADDR}:{MANAGED_PG_PORT} (PostgreSQL {major_version()}, pid {running_pid(lay, NAME)})"


def reset(lay: Layout) -> None:
    """The shop's database on the managed server emptied (before the world's first deploy)."""
    psql(lay, "DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION shop", database=DATABASE)
