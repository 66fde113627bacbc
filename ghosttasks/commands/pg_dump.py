"""PostgreSQL backups: pg_dump -Fc, verification, checksum, retention, restore.

The files live on the host the database's client runs on (the db host, or `database.client_host` for a managed
server); pg_dump and pg_restore run where the client says (ghosttasks.commands.pg_client) and stream the file
through that host's shell.
"""

from __future__ import annotations

import re
import shlex

from ghosttasks.commands import qpath
from ghosttasks.commands.facts import Fact, Unread
from ghosttasks.commands.pg_client import Client

BACKUP_SUFFIX = ".dump"
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def backup_name(env: str, label: str, stamp: str) -> str:
    """`prod-v1.1.0-20261128T203400Z.dump`: environment, version (or purpose) and UTC time."""
    for part in (env, label, stamp):
        if not LABEL_RE.fullmatch(part):
            raise ValueError(f"unsafe backup name part {part!r}")
    return f"{env}-{label}-{stamp}{BACKUP_SUFFIX}"


def dump(client: Client, *, user: str, database: str, path: str, lock_wait_seconds: int = 60) -> str:
    """Dump to a .partial file (mode 0600) and rename only when pg_dump succeeded.

    pg_dump gives up (instead of hanging) when it cannot get its table locks within lock_wait_seconds.
    """
    directory = qpath(path.rsplit("/", 1)[0])
    partial = qpath(f"{path}.partial")
    argv = ["pg_dump", "-U", user, "-Fc", f"--lock-wait-timeout={int(lock_wait_seconds)}s", database]
    pg_dump = client.command(argv)
    return (
        f"umask 077 && mkdir -p {directory} && {{ {pg_dump} > {partial}; }} "
        f"&& mv -f {partial} {qpath(path)} || {{ status=$?; rm -f {partial}; exit $status; }}"
    )


def verify(client: Client, path: str) -> str:
    """Non-empty, readable by pg_restore --list; then write and print its sha256 and size."""
    quoted = qpath(path)
    checksum = qpath(f"{path}.sha256")
    pg_restore = client.command(["pg_restore", "--list"])
    return (
        f"test -s {quoted} && {pg_restore} < {quoted} > /dev/null "
        f"&& (cd {qpath(path.rsplit('/', 1)[0])} && umask 077 && sha256sum {shlex.quote(path.rsplit('/', 1)[1])}"
        f" > {checksum}) && stat -c 'size=%s' {quoted} && cat {checksum}"
    )


def check_checksum(path: str) -> str:
    """Check a backup against its .sha256 file (exit non-zero when it differs or is missing)."""
    directory, name = path.rsplit("/", 1)
    return f"cd {qpath(directory)} && sha256sum --check --strict {shlex.quote(name + '.sha256')}"


def prune(directory: str, env: str, keep: int) -> str:
    """Keep the newest `keep` backups of this environment; remove older dumps and their checksums."""
    pattern = f"{qpath(directory)}/{shlex.quote(env)}-*{BACKUP_SUFFIX}"
    return (
        f"ls -1t {pattern} 2>/dev/null | tail -n +{int(keep) + 1} "
        '| while read -r old; do rm -f -- "$old" "$old.sha256"; done'
    )


def listing(directory: str, env: str) -> str:
    """One line per backup, newest first: name, size in bytes, modification time."""
    pattern = f"{qpath(directory)}/{shlex.quote(env)}-*{BACKUP_SUFFIX}"
    return f"ls -1t {pattern} 2>/dev/null | while read -r f; do stat -c '%n %s %y' \"$f\"; done; true"


def restore(client: Client, *, user: str, database: str, path: str) -> str:
    """pg_restore --clean of a backup file into the database, in one transaction."""
    pg_restore = client.command(
        ["pg_restore", "-U", user, "-d", database, "--clean", "--if-exists", "--single-transaction", "--no-owner"],
    )
    return f"{pg_restore} < {qpath(path)}"


def parse_verification(text: str) -> tuple[int, str]:
    """(size in bytes, sha256) from verify's `size=N` and sha256sum lines."""
    size, checksum = 0, ""
    for line in text.splitlines():
        if line.startswith("size="):
            size = int(line.removeprefix("size=") or 0)
        elif line.strip():
            checksum = line.split()[0]
    return size, checksum


def verified(client: Client, path: str) -> Fact[tuple[int, str]]:
    """A backup verified (verify): its size in bytes and sha256; a dry run assumes a 1 MiB one."""
    assumed = f"size=1048576\n{'0' * 64}  {path.rsplit('/', 1)[1]}"
    return Fact(
        "backup verification (pg_restore --list)",
        verify(client, path),
        lambda answer: parse_verification(answer.stdout),
        assumed,
    )


def checksum_mismatch(path: str) -> Fact[Unread | None]:
    """Why the backup does not match its checksum file (or is missing); None when it matches."""
    return Fact(
        "check the backup's checksum",
        check_checksum(path),
        lambda answer: None if answer.ok else Unread(answer.describe()),
        "",
        check=False,
    )
