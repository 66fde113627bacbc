"""Alembic migrations and PostgreSQL backups (runbook "Database Migrations" and "Migration Rollback")."""

from __future__ import annotations

from ghosttasks.commands import alembic, compose, pg_dump
from ghosttasks.decisions.migration_plan import Direction, choose_runner, plan_migration, plan_stamp
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import Knowledge, Refused
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.backup import BackupInfo
from ghosttasks.flows.steps.backup import take_backup as take_verified_backup
from ghosttasks.flows.steps.database_access import database_access
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.migrate import (
    alembic_in,
    apply,
    database_heads,
    database_revision,
    knowledge,
    record_revision,
    runner_command,
    schema_changes,
)
from ghosttasks.flows.steps.migration_review import lint_downgrade
from ghosttasks.flows.steps.projects import serving_api
from ghosttasks.flows.steps.reality import reconciled_state
from ghosttasks.records.state_store import Store


def migrate(run: Run, direction: Direction, revision: str, *, force: bool = False) -> str | None:
    """db.upgrade / db.downgrade: planned against the real revision, verified backup first, state re-read after.

    Blue-green: the planner picks the direction check, the container that knows both revisions, and
    refuses a downgrade below the serving version's head unless --force. Single environments run it
    in their one api container.
    """
    store = Store(run)
    with guarded(run, store, version=None, reason=f"alembic {direction} {revision}") as entry:
        if run.env.app.strategy != "blue-green":
            return _migrate_single(run, direction, revision, entry)
        with run.step("plan migration"):
            state = reconciled_state(run, store, entry)
            current = database_revision(run)
            plan = plan_migration(state, knowledge(run, state), current, revision, requested=direction, force=force)
            if plan is None:
                run.out.ok(f"database already at {current or 'base'}: nothing to do")
                return current
            run.note(plan.describe())
            if plan.direction == "downgrade" and (verdict := lint_downgrade(run, plan)):
                entry.migration_lint = verdict.summary()
        try:
            with run.step(f"alembic {direction} {plan.target or 'base'}"):
                now = apply(run, plan, label=f"before-{direction}", entry=entry)
        finally:
            record_revision(run, store, state)
        run.out.ok(f"database at {now or 'base (empty)'}")
        return now


def _migrate_single(run: Run, direction: Direction, revision: str, entry: HistoryEntry) -> str | None:
    api = serving_api(run)
    build = alembic.upgrade if direction == "upgrade" else alembic.downgrade
    with run.step("backup database"):
        entry.backup = take_verified_backup(run, f"before-{direction}").path
    with run.step(f"alembic {direction} {revision}"):
        schema_changes(run)
        alembic_in(run, api, build(run.env.app.alembic, revision), what=f"alembic {direction}")
        entry.alembic_revision = now = database_revision(run)
    run.out.ok(f"database at {now or 'base (empty)'}")
    return now


def stamp(run: Run, revision: str) -> None:
    """`alembic stamp REV`: the runbook's manual migration repair (changes no schema), in a container
    whose code knows REV."""
    store = Store(run)
    with (
        guarded(run, store, version=None, reason=f"alembic stamp {revision}") as entry,
        run.step(f"alembic stamp {revision}"),
    ):
        argv = alembic.stamp(run.env.app.alembic, revision)
        if run.env.app.strategy != "blue-green":
            alembic_in(run, serving_api(run), argv, what="alembic stamp")
            return
        state = reconciled_state(run, store, entry)
        heads = database_heads(run)  # stamp --purge repairs any of them, several heads included
        plan = plan_stamp(state, knowledge(run, state), heads[0] if len(heads) == 1 else None, revision)
        schema_changes(run)  # the heads read for the plan; the state gets the stamped revision read after it
        try:
            command = runner_command(run, plan.runner, alembic.stamp(run.env.app.alembic, plan.target or "base"))
            run.executor.run(run.env.app_hosts[0], command, what="alembic stamp", stream=True)
        finally:
            record_revision(run, store, state)


def current(run: Run) -> str | None:
    """db.current: the database's real revision (psql), and which versions know it. Always answers: several
    heads (a downgrade below a merge) are shown as they are, each with the versions that know it."""
    heads = database_heads(run)
    known = knowledge(run, Store(run).load()) if run.env.app.strategy == "blue-green" else None
    if len(heads) > 1:
        run.out.warn(
            f"the database is at {len(heads)} heads: {', '.join(heads)}; changing commands refuse until it is at one"
        )
    for revision in heads or (None,):
        line = f"database at {revision or 'base (empty)'}"
        if known is not None:
            knowing = known.versions_knowing(revision)
            at_head = [version for version in sorted(known.graphs) if _head(known, version) == revision]
            line += f": the head of {', '.join(at_head)}" if at_head else ""
            line += f"; known to {', '.join(knowing)}" if knowing else "; no recorded version ships it"
        run.out.info(line)
    return ",".join(heads) if heads else None


def _head(known: Knowledge, version: str) -> str | None:
    try:
        return known.head(version)
    except Refused:
        return None


def history(run: Run) -> str:
    """db.history: `alembic history` from a container whose code knows the database's revision(s), current marked."""
    heads = database_heads(run)
    if run.env.app.strategy == "blue-green":
        state = Store(run).load()
        runner = choose_runner(state, knowledge(run, state), *heads)
        if runner is None:
            raise OperationFailed(f"no recorded version knows the database's revision {', '.join(heads)}")
        command = runner_command(run, runner, alembic.history(run.env.app.alembic))
        where, version = run.env.app_hosts[0], runner.version
    else:
        api = serving_api(run)
        command = compose.exec_(api.project, run.env.app.roles.migrations, alembic.history(run.env.app.alembic))
        where, version = api.host, api.project.version
    text = run.executor.read(where, alembic.history_text(command, version))
    for line in text.splitlines():
        if not line.startswith("INFO "):
            up = line.split(" -> ", 1)[-1] if " -> " in line else ""
            marked = " (current)" if any(up.startswith((f"{head} ", f"{head},")) for head in heads) else ""
            run.out.host_line(where.name, line + marked)
    return text


def revision(run: Run, message: str, *, autogenerate: bool) -> str | None:
    """`alembic revision [--autogenerate] -m MSG` in the migrations-role container; the file is copied to the app
    checkout's versions directory (app.alembic_versions_dir)."""
    api, service = serving_api(run), run.env.app.roles.migrations
    argv = alembic.revision(run.env.app.alembic, message, autogenerate=autogenerate)
    generated = run.executor.read(api.host, alembic.generated(compose.exec_(api.project, service, argv)))
    destination = alembic.revision_destination(run.env.app_dir(api.host), run.env.app.alembic_versions_dir)
    run.executor.run(api.host, compose.copy_out(api.project, service, generated, destination), what="copy the revision")
    # The container is not the source tree: leave no migration in it that the next upgrade would apply.
    remove = compose.exec_(api.project, service, ["rm", "-f", generated])
    run.executor.run(api.host, remove, what=f"remove it from {service}")
    name = generated.rsplit("/", 1)[1]
    run.out.ok(f"{api.host.name}: {destination}{name} -- review it before applying (runbook: review migration file)")
    return f"{destination}{name}"


def take_backup(run: Run) -> BackupInfo:
    """db.backup: a verified manual backup."""
    return take_verified_backup(run, "manual")


def list_backups(run: Run) -> list[list[str]]:
    """db.backups: file, size and time of each backup of this environment, newest first."""
    env = run.env
    text = run.executor.run(env.database_client_host, pg_dump.listing(env.database.backup_dir, env.name)).stdout
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
    access = database_access(run)
    with guarded(run, Store(run), version=None, reason=f"restore {name}") as entry:
        with run.step("check the backup file"):
            mismatch = run.executor.read(access.host, pg_dump.checksum_mismatch(path))
            if mismatch:
                raise OperationFailed(
                    f"{name} failed its checksum or does not exist on {access.host.name}: {mismatch.reason}",
                    hint="list the backups: inv db.backups",
                )
            run.out.ok(f"{name}: checksum matches")
        with run.step("backup current database"):
            entry.backup = take_verified_backup(run, "before-restore").path
        with run.step(f"restore {name}"):
            schema_changes(run)
            restore = pg_dump.restore(access.client, user=db.user, database=db.name, path=path)
            access.run(run, restore, what="pg_restore", stream=True)
        run.out.ok(f"restored {name} into {db.name}; the previous data is in {entry.backup}")
