"""PostgreSQL reads through the shared postgres service on the db host."""

from __future__ import annotations

from ghosttasks.commands import assumptions, compose
from ghosttasks.commands.facts import Answer, Fact, Unread
from ghosttasks.domain.errors import OperationFailed

ALEMBIC_VERSION_SQL = "SELECT version_num FROM alembic_version"
NO_VERSION_TABLE = 'relation "alembic_version" does not exist'


def schema_revision(project: compose.Project, *, service: str, user: str, database: str) -> str:
    """psql printing the alembic_version row(s): read with psql, not alembic, so it answers whatever
    revision the database is at (an empty database fails with 'relation "alembic_version" does not exist')."""
    argv = ["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-c", ALEMBIC_VERSION_SQL]
    return compose.exec_(project, service, argv)


def revision(
    project: compose.Project,
    *,
    service: str,
    user: str,
    database: str,
    assumed: str | None = assumptions.STATE.database_revision,
) -> Fact[tuple[str, ...]]:
    """The database's alembic revisions, every row of alembic_version, sorted (empty: an empty database, no
    alembic_version table). One row is the usual; several are heads of separate branches (a downgrade to one
    side of a merge leaves the other side applied): the caller decides what that allows."""

    def parse(answer: Answer) -> tuple[str, ...]:
        if answer.ok:
            return tuple(sorted(answer.stdout.split()))
        if NO_VERSION_TABLE in answer.stdout + answer.stderr:
            return ()
        raise OperationFailed(f"cannot read the database's revision: {answer.describe()}")

    command = schema_revision(project, service=service, user=user, database=database)
    return Fact("read the database revision", command, parse, assumed or "", check=False)


def ready(project: compose.Project, *, service: str, user: str) -> Fact[str | Unread]:
    """pg_isready in the postgres container: its answer when it accepts connections, else why not."""

    def parse(answer: Answer) -> str | Unread:
        line = answer.stdout.strip() or answer.describe()
        return line if answer.ok else Unread(line)

    command = compose.exec_(project, service, ["pg_isready", "-U", user])
    return Fact("pg_isready", command, parse, "accepting connections", check=False)


def select_one(project: compose.Project, *, service: str, user: str, database: str) -> Fact[str | Unread]:
    """`psql -c 'SELECT 1'` in the postgres container: the database accepts a session and answers a query."""

    def parse(answer: Answer) -> str | Unread:
        if answer.ok and answer.stdout.strip() == "1":
            return f"Database OK (SELECT 1 as {user} on {database})"
        return Unread(answer.describe())

    command = compose.exec_(project, service, ["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-c", "SELECT 1"])
    return Fact("database check", command, parse, "1\n", check=False)
