"""The pre-change database backup: pg_dump -Fc, verified, checksummed, old ones pruned. No backup, no change."""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.commands import pg_dump
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.database_access import database_access


@dataclass(frozen=True)
class BackupInfo:
    path: str
    size: int
    sha256: str


def take_backup(run: Run, label: str) -> BackupInfo:
    """pg_dump -Fc where the database's client runs (the db host, or a managed server's client host), verified with
    pg_restore --list, checksummed; then retention."""
    env = run.env
    db = env.database
    access = database_access(run)
    path = f"{db.backup_dir}/{pg_dump.backup_name(env.name, label, run.stamp())}"
    dump = pg_dump.dump(
        access.client, user=db.user, database=db.name, path=path, lock_wait_seconds=db.lock_wait_seconds
    )
    access.run(run, dump, what="pg_dump")
    size, checksum = access.read(run, pg_dump.verified(access.client, path))
    if size <= 0:
        raise OperationFailed(f"backup {path} is empty")
    run.executor.run(access.host, pg_dump.prune(db.backup_dir, env.name, db.keep_backups), what="backup retention")
    run.out.ok(f"backup {path} verified: {size} bytes, sha256 {checksum[:12]}")
    return BackupInfo(path, size, checksum)
