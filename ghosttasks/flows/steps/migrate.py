"""The schema as it really is, and alembic runs where the planner says (ghosttasks.decisions.migration_plan).

The database's revision is read with psql through the postgres service (it answers whatever revision
the database is at); what a version knows is read from its own code: alembic's script-directory model, run in
that version's api container (ghosttasks.commands.alembic.READER; it reads no database).

The revision is read once per change: the run keeps what it read (Run.facts) until it runs something that can
change the schema (schema_changes), and the next read after that is a real one. The deploy lock keeps every
other ghosttasks run from changing it meanwhile.
"""

from __future__ import annotations

import dataclasses

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from ghosttasks.commands import alembic, assumptions, compose, postgres
from ghosttasks.commands.facts import Fact
from ghosttasks.decisions.migration_plan import Migration, Runner, plan_deploy_migration
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import CommandFailed, OperationFailed
from ghosttasks.domain.revisions import History, Knowledge, one_head
from ghosttasks.execution.executor import Result
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.backup import take_backup
from ghosttasks.flows.steps.database_access import DatabaseAccess, database_access
from ghosttasks.flows.steps.projects import ApiTarget, color_api, color_project
from ghosttasks.records.state_store import Store

LOCK_RETRY_WAIT_SECONDS = 2
_HEADS = "database heads"


def alembic_in(
    run: Run,
    target: ApiTarget,
    argv: list[str],
    *,
    what: str,
    stream: bool = True,
) -> Result:
    """Run an alembic command line in the target's migrations-role container."""
    command = compose.exec_(target.project, run.env.app.roles.migrations, argv)
    return run.executor.run(target.host, command, what=what, stream=stream)


def database_heads(run: Run, *, assumed: str | None = assumptions.STATE.database_revision) -> tuple[str, ...]:
    """Every revision in the database's alembic_version (empty: an empty database); a dry run assumes `assumed`.

    Read once until this run changes the schema (schema_changes)."""
    if _HEADS not in run.facts:
        db, access = run.env.database, database_access(run)
        fact = postgres.revision(access.client, user=db.user, database=db.name, assumed=assumed)
        run.facts[_HEADS] = access.read(run, fact)
    return run.facts[_HEADS]


def heads_read(run: Run) -> tuple[DatabaseAccess, Fact[tuple[str, ...]]]:
    """Where and how database_heads reads the revision, for a flow that reads it with its other reads (then
    remember_heads)."""
    db, access = run.env.database, database_access(run)
    return access, postgres.revision(
        access.client, user=db.user, database=db.name, assumed=assumptions.STATE.database_revision
    )


def remember_heads(run: Run, heads: tuple[str, ...]) -> None:
    """What a flow read with heads_read: database_heads answers it until this run changes the schema."""
    run.facts[_HEADS] = heads


def schema_changes(run: Run) -> None:
    """Called before a command that can change the schema: the revision this run read is no longer known."""
    run.facts.pop(_HEADS, None)


def database_revision(run: Run, *, assumed: str | None = assumptions.STATE.database_revision) -> str | None:
    """The database's real revision (None: empty, no alembic_version table); a dry run assumes `assumed`.
    Several heads are refused (Refused): nothing that changes the schema or traffic plans from them."""
    return one_head(database_heads(run, assumed=assumed))


def read_graph(run: Run, target: ApiTarget) -> History:
    """The revisions the target container's code ships (alembic's own model of its script directory)."""
    argv = alembic.graph_reader(run.env.app.alembic, run.env.app.alembic_python)
    command = compose.exec_(target.project, run.env.app.roles.migrations, argv)
    return run.executor.read(target.host, alembic.revisions(command, target.project.version))


def knowledge(run: Run, state: DeployState) -> Knowledge:
    """What each version knows: recorded graphs, plus a live read for any colour whose graph is not recorded.

    A graph read live is recorded in `state` (saved with it later).
    """
    for color in COLORS:
        version = state.colors[color].runs
        if version and version not in state.version_graphs:
            try:
                state.learn_graph(version, read_graph(run, color_api(run, color, version)).graph)
            except OperationFailed as exc:
                run.out.warn(f"cannot read the revisions {version} ships from {color}: {exc}")
    return Knowledge.recorded(state)


def runner_command(run: Run, runner: Runner, argv: list[str], env: dict[str, str] | None = None) -> str:
    """alembic in the runner: `exec` in a colour's running migrations-role service, or `run --rm` of that version's
    image."""
    first, service = run.env.app_hosts[0], run.env.app.roles.migrations
    if runner.color:
        return compose.exec_(color_project(run, first, runner.color, runner.version), service, argv, env)
    project = color_project(run, first, "blue", runner.version)
    one_off = dataclasses.replace(project, name=f"{run.env.app.project}-migrate")
    return compose.run_rm(one_off, service, argv, env)


def apply(run: Run, migration: Migration, *, label: str, entry: HistoryEntry, backup: bool = True) -> str | None:
    """A verified backup (unless the caller just took one), then the migration; returns the revision the
    database is at afterwards."""
    if backup:
        entry.backup = take_backup(run, label).path
    run.note(migration.describe())
    env = run.env
    argv = (alembic.upgrade if migration.direction == "upgrade" else alembic.downgrade)(
        env.app.alembic, migration.target or "base"
    )
    schema_changes(run)
    bounded_run(run, migration, argv, backup=entry.backup)
    now = database_revision(run, assumed=migration.target)
    entry.alembic_revision = now
    if now != migration.target:
        raise OperationFailed(f"alembic {migration.direction} ended at {now or 'base'}, not {migration.target}")
    return now


def bounded_run(run: Run, migration: Migration, argv: list[str], *, backup: str | None) -> None:
    """Run alembic with the inventory's lock_timeout and statement_timeout on its session; a lock timeout (a
    transaction holds a lock it needs: the migration gave up instead of queueing live queries behind it) is
    tried again a few times, then fails cleanly naming the backup."""
    db = run.env.database
    session = alembic.session_env(db.migration_lock_timeout_seconds, db.migration_statement_timeout_seconds)
    command = runner_command(run, migration.runner, argv, session)
    what = f"alembic {migration.direction}"
    retrying = Retrying(
        stop=stop_after_attempt(db.migration_lock_attempts),
        wait=wait_fixed(LOCK_RETRY_WAIT_SECONDS),
        retry=retry_if_exception(lambda exc: _timed_out(exc) == "lock timeout"),
        before_sleep=lambda state: run.out.warn(
            f"{what} hit lock_timeout ({db.migration_lock_timeout_seconds:g} s) on attempt {state.attempt_number}: "
            "another transaction holds a lock it needs; trying again"
        ),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                run.executor.run(run.env.app_hosts[0], command, what=what, stream=True)
    except CommandFailed as exc:
        timeout = _timed_out(exc)
        if timeout is None:
            raise
        limit = (
            db.migration_lock_timeout_seconds if timeout == "lock timeout" else db.migration_statement_timeout_seconds
        )
        tries = f" in each of {db.migration_lock_attempts} attempts" if timeout == "lock timeout" else ""
        raise OperationFailed(
            f"{what} stopped at its {timeout.replace(' ', '_')} ({limit:g} s){tries}: the migration's transaction was "
            f"rolled back and traffic was not moved; the verified backup from before it is {backup or '(none taken)'}",
            hint="find the blocking session on the db host (pg_stat_activity, pg_locks), end it or wait, then deploy "
            "again",
        ) from None


def _timed_out(exc: BaseException) -> str | None:
    """'lock timeout' or 'statement timeout' when PostgreSQL cancelled the migration's statement for it."""
    if not isinstance(exc, CommandFailed):
        return None
    output = " ".join(result.stdout + result.stderr for result in exc.results)
    for timeout in ("lock timeout", "statement timeout"):
        if f"canceling statement due to {timeout}" in output:
            return timeout
    return None


def record_revision(run: Run, store: Store, state: DeployState) -> None:
    """Save the database's revision in the state, read again when this run changed the schema since it last read
    it (or never read it)."""
    try:
        state.database_revision = database_revision(run)
        store.save(state)
    except OperationFailed as exc:
        run.out.warn(f"could not re-read the database revision for the state file: {exc}")


def migrate_for_deploy(run: Run, state: DeployState, color: Color, version: str, entry: HistoryEntry) -> str | None:
    """deploy.prod: upgrade to the new version's head where the planner says so.

    What the version ships was read by the review step of this run (review_for_deploy), the revision too; a
    version whose graph is not known yet is read from its colour (knowledge). Returns the version's schema head
    (the backup was taken by the step before).
    """
    plan = plan_deploy_migration(knowledge(run, state), database_revision(run), version, color)
    if plan.migration is None:
        (run.out.warn if plan.database_ahead else run.note)(plan.note)
    else:
        run.note(plan.note)
        apply(run, plan.migration, label=version, entry=entry, backup=False)
    return state.version_heads.get(version)
