"""PostgreSQL reads through the shared postgres service on the db host."""

from __future__ import annotations

from ghosttasks.commands import compose

ALEMBIC_VERSION_SQL = "SELECT version_num FROM alembic_version"


def schema_revision(project: compose.Project, *, service: str, user: str, database: str) -> str:
    """psql printing the alembic_version row(s): read with psql, not alembic, so it answers whatever
    revision the database is at (an empty database fails with 'relation "alembic_version" does not exist')."""
    argv = ["psql", "-U", user, "-d", database, "-X", "-q", "-tA", "-c", ALEMBIC_VERSION_SQL]
    return compose.exec_(project, service, argv)
