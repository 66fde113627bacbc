"""Alembic migrations and PostgreSQL backups (runbook "Database Migrations" and "Migration Rollback")."""

from __future__ import annotations

import re

from ghosttasks.commands import alembic, backup, compose
from ghosttasks.errors import OperationFailed
from ghosttasks.flows.backup import BackupInfo
from ghosttasks.flows.backup import take_backup as take_verified_backup
from ghosttasks.flows.guard import guarded
from ghosttasks.flows.migrate import alembic_in, current_revision
from ghosttasks.flows.projects import serving_api, shared_project
from ghosttasks.run import Run
from ghosttasks.state import Store

GENERATED_RE = re.compile(r"Generating (\S+\.py)")


def migrate(run: Run, direction: str, revision: str) -> str | None:
    """Always a verified backup first, then `alembic upgrade|downgrade REV` in the serving api container."""
    build = alembic.upgrade if direction == "upgrade" else alembic.downgrade
    with guarded(run, Store(run), version=None, reason=f"alembic {direction} {revision}") as entry:
        api = serving_api(run)
        with run.step("backup database"):
            entry["backup"] = take_verified_backup(run, f"before-{direction}").path
        with run.step(f"alembic {direction} {revision}"):
            alembic_in(run, api, build(run.env.app.alembic, revision), what=f"alembic {direction}")
            entry["alembic_revision"] = now = current_revision(run, api)
        run.out.ok(f"database at {now or 'base (empty)'}")
        return now


def stamp(run: Run, revision: str) -> None:
    """`alembic stamp REV`: the runbook's manual migration repair (changes no schema)."""
    with (
        guarded(run, Store(run), version=None, reason=f"alembic stamp {revision}"),
        run.step(f"alembic stamp {revision}"),
    ):
        alembic_in(run, serving_api(run), alembic.stamp(run.env.app.alembic, revision), what="alembic stamp")


def show(run: Run, what: str) -> str:
    """Read-only: `alembic current` or `alembic history` from the serving api container."""
    argv = alembic.current(run.env.app.alembic) if what == "current" else alembic.history(run.env.app.alembic)
    api = serving_api(run)
    result = alembic_in(run, api, argv, what=f"alembic {what}", stream=False)
    text = (result.stdout + result.stderr).strip()
    for line in text.splitlines():
        if not line.startswith("INFO "):
            run.out.host_line(api.host.name, line)
    return text


def revision(run: Run, message: str, *, autogenerate: bool) -> str | None:
    """`alembic revision [--autogenerate] -m MSG` in the api container; the file is copied to the app dir."""
    api = serving_api(run)
    argv = alembic.revision(run.env.app.alembic, message, autogenerate=autogenerate)
    result = alembic_in(
        run,
        api,
        argv,
        what="alembic revision",
        stream=True,
        assume="Generating /app/alembic/versions/REVISION_message.py ...  done",
    )
    match = GENERATED_RE.search(result.stdout + result.stderr)
    if not match:
        raise OperationFailed(f"alembic did not say which file it generated: {result.describe()}")
    generated = match.group(1)
    destination = f"{run.env.app_dir(api.host)}/alembic/versions/"
    run.executor.run(api.host, compose.copy_out(api.project, "api", generated, destination), what="copy the revision")
    # The container is not the source tree: leave no migration in it that the next upgrade would apply.
    run.executor.run(api.host, compose.exec_(api.project, "api", ["rm", "-f", generated]), what="remove it from api")
    name = generated.rsplit("/", 1)[1]
    run.out.ok(f"{api.host.name}: {destination}{name} -- review it before applying (runbook: review migration file)")
    return f"{destination}{name}"


def take_backup(run: Run) -> BackupInfo:
    return take_verified_backup(run, "manual")


def list_backups(run: Run) -> list[list[str]]:
    env = run.env
    text = run.executor.run(env.db_host, backup.listing(env.database.backup_dir, env.name)).stdout
    rows = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            rows.append([parts[0].rsplit("/", 1)[-1], parts[1], parts[2][:19]])
    return rows


def restore(run: Run, name: str) -> None:
    """Check the file's checksum, take a verified backup of the current database, then pg_restore --clean."""
    env = run.env
    db = env.database
    path = f"{db.backup_dir}/{name}"
    with guarded(run, Store(run), version=None, reason=f"restore {name}") as entry:
        with run.step("check the backup file"):
            checked = run.executor.run(env.db_host, backup.check_checksum(path), check=False)
            if not checked.ok:
                raise OperationFailed(
                    f"{name} failed its checksum or does not exist on {env.db_host.name}: {checked.describe()}",
                    hint="list the backups: inv db.backups",
                )
            run.out.ok(f"{name}: checksum matches")
        with run.step("backup current database"):
            entry["backup"] = take_verified_backup(run, "before-restore").path
        with run.step(f"restore {name}"):
            project = shared_project(run)
            run.executor.run(
                env.db_host,
                backup.restore(project, service=db.service, user=db.user, database=db.name, path=path),
                what="pg_restore",
                stream=True,
            )
        run.out.ok(f"restored {name} into {db.name}; the previous data is in {entry['backup']}")
