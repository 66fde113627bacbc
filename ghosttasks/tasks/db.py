"""db.*: alembic upgrade/downgrade/current/history/stamp/revision and verified backups."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import DRY_HELP, ENV_HELP, JSON_HELP, YES_HELP, execute, ghost_task

REV_HELP = "alembic revision: an id (any alembic allows, e.g. 0003_orders_status), head, base, or relative like -1"


@ghost_task(help={"revision": f"{REV_HELP} (default: head)", "env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
def upgrade(c, revision="head", env=None, dry_run=False, yes=False):
    """Verified backup, then alembic upgrade from a container whose code knows both revisions.

    `head` is the head of the serving version. Refused when the target is behind the database.
    """
    _migrate(c, "upgrade", revision, env, dry_run, yes, force=False)


@ghost_task(
    help={
        "revision": f"{REV_HELP} (required)",
        "force": "downgrade even below the schema head the serving version needs (it will serve without "
        "its migrations)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
def downgrade(c, revision, force=False, env=None, dry_run=False, yes=False):
    """Verified backup, then alembic downgrade to REV (`-r -1` for one step) from a container that knows both.

    Refused, before anything changes, below the head of the version that is serving (move traffic to an
    older version first, e.g. with deploy.rollback) unless --force.
    """
    _migrate(c, "downgrade", revision, env, dry_run, yes, force=force)


def _migrate(c, direction, revision: str, env, dry_run: bool, yes: bool, *, force: bool) -> None:
    from ghosttasks.flows import database

    revision = validate.revision(revision, "--revision")
    execute(
        c,
        env,
        lambda run: database.migrate(run, direction, revision, force=force),
        dry_run=dry_run,
        confirm_summary=f"alembic {direction} {revision}",
        yes=yes,
    )


@ghost_task(help={"env": ENV_HELP})
def current(c, env=None):
    """The database's real alembic revision (read with psql) and which versions know it."""
    from ghosttasks.flows import database

    execute(c, env, database.current)


@ghost_task(help={"env": ENV_HELP})
def history(c, env=None):
    """The alembic revision history, with the current one marked."""
    from ghosttasks.flows import database

    execute(c, env, database.history)


@ghost_task(help={"revision": f"{REV_HELP} (required)", "env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
def stamp(c, revision, env=None, dry_run=False, yes=False):
    """Mark the database as being at REV without running migrations (manual migration repair)."""
    from ghosttasks.flows import database

    revision = validate.revision(revision, "--revision")
    execute(
        c,
        env,
        lambda run: database.stamp(run, revision),
        dry_run=dry_run,
        confirm_summary=f"alembic stamp {revision}",
        yes=yes,
    )


@ghost_task(
    help={
        "message": "revision message (required)",
        "autogenerate": "compare models with the database",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    }
)
def revision(c, message, autogenerate=False, env="dev", dry_run=False):
    """Create a new migration in the api container and copy it into the app dir for review."""
    from ghosttasks.flows import database

    message = validate.free_text(message, "--message")
    execute(c, env, lambda run: database.revision(run, message, autogenerate=autogenerate), dry_run=dry_run)


@ghost_task(
    help={
        "version": "release tag whose migrations are reviewed, vMAJOR.MINOR.PATCH[-pre] (fetched and built on the "
        "app hosts; nothing that serves changes)",
        "revisions": "FROM:TO revisions to lint (default: the database's revision to the version's head; "
        "either side may be empty, head or base)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    }
)
def lint(c, version, revisions=None, env=None, dry_run=False):
    """Lint the SQL a release's migrations would run with squawk, as deploy.prod's gate does; exit 1 on a
    finding that breaks the colour that keeps serving."""
    from ghosttasks.flows.steps import migration_review

    version = validate.version(version)
    spec = validate.revision_range(revisions, "--revisions") if revisions is not None else None
    execute(c, env, lambda run: migration_review.lint_release(run, version, spec), dry_run=dry_run)


@ghost_task(help={"env": ENV_HELP, "dry_run": DRY_HELP})
def backup(c, env=None, dry_run=False):
    """pg_dump -Fc on the db host, verified (pg_restore --list, size, sha256), old ones pruned."""
    from ghosttasks.flows import database

    execute(c, env, database.take_backup, dry_run=dry_run)


@ghost_task(help={"env": ENV_HELP})
def backups(c, env=None):
    """List the backups on the db host, newest first."""
    from ghosttasks.flows import database

    def body(run):
        rows = database.list_backups(run)
        run.out.table(f"{run.env.name}: backups in {run.env.database.backup_dir}", ["file", "bytes", "taken"], rows)

    execute(c, env, body)


@ghost_task(
    help={
        "file": "backup file name, as db.backups lists them (required)",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    }
)
def restore(c, file, env=None, dry_run=False, yes=False):
    """Restore a backup (checksum checked, current data backed up first)."""
    from ghosttasks.flows import database

    name = validate.backup_name(file)
    execute(
        c,
        env,
        lambda run: database.restore(run, name),
        dry_run=dry_run,
        confirm_summary=f"Restore {name} over the database",
        yes=yes,
    )


@ghost_task(
    help={
        "threshold": "seconds after which a running query is listed as long-running (default 5)",
        "json": JSON_HELP,
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    }
)
def activity(c, threshold=5.0, json=False, env=None, dry_run=False):
    """What the database is doing (read-only): long-running queries, idle transactions, who blocks whom, and
    connections per application and client mapped to hosts and colours, against max_connections."""
    from ghosttasks.flows import performance

    seconds = validate.positive_number(threshold, "--threshold")
    execute(c, env, lambda run: performance.activity(run, threshold=seconds, as_json=json), dry_run=dry_run, quiet=json)


@ghost_task(
    help={"limit": "statements per table (default 10)", "json": JSON_HELP, "env": ENV_HELP, "dry_run": DRY_HELP}
)
def slow(c, limit=10, json=False, env=None, dry_run=False):
    """The top statements by total and by mean time from pg_stat_statements (calls, mean, total, rows);
    when the extension is missing, how to enable it."""
    from ghosttasks.flows import performance

    count = int(validate.positive_number(limit, "--limit"))
    execute(c, env, lambda run: performance.slow(run, limit=count, as_json=json), dry_run=dry_run, quiet=json)


namespace = Collection(
    "db", upgrade, downgrade, current, history, stamp, revision, lint, backup, backups, restore, activity, slow
)
