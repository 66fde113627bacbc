"""The pre-change database backup: pg_dump -Fc, verified, checksummed, old ones pruned. No backup, no change."""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.commands import pg_dump
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import shared_project


@dataclass(frozen=True)
class BackupInfo:
    path: str
    size: int
    sha256: str


def take_backup(run: Run, label: str) -> BackupInfo:
    """pg_dump -Fc on the db host, verified with pg_restore --list, checksummed; then retention."""
    env = run.env
    db = env.database
    project = shared_project(run)
    path = f"{db.backup_dir}/{pg_dump.backup_name(env.name, label, run.stamp())}"
    run.executor.run(
        env.db_host,
        pg_dump.dump(
            project,
            service=db.service,
            user=db.user,
            database=db.name,
            path=path,
            lock_wait_seconds=db.lock_wait_seconds,
        ),
        what="pg_dump",
    )
    size, checksum = run.executor.read(env.db_host, pg_dump.verified(project, service=db.service, path=path))
    if size <= 0:
        raise OperationFailed(f"backup {path} is empty")
    run.executor.run(env.db_host, pg_dump.prune(db.backup_dir, env.name, db.keep_backups), what="backup retention")
    run.out.ok(f"backup {path} verified: {size} bytes, sha256 {checksum[:12]}")
    return BackupInfo(path, size, checksum)
