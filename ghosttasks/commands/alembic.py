"""alembic command lines (argv), run inside the api container through compose exec."""

from __future__ import annotations

import shlex


def _alembic(program: str, *args: str) -> list[str]:
    return [*shlex.split(program), *args]


def upgrade(program: str, revision: str = "head") -> list[str]:
    """alembic upgrade to a revision (default head)."""
    return _alembic(program, "upgrade", revision)


def downgrade(program: str, revision: str) -> list[str]:
    """alembic downgrade to a revision."""
    return _alembic(program, "downgrade", revision)


def upgrade_sql(program: str, current: str | None, target: str) -> list[str]:
    """The SQL `alembic upgrade` would run from `current` (None: base) to `target`, printed offline (no database)."""
    return _alembic(program, "upgrade", f"{current}:{target}" if current else target, "--sql")


def downgrade_sql(program: str, current: str, target: str | None) -> list[str]:
    """The SQL `alembic downgrade` would run from `current` to `target` (None: base), printed offline."""
    return _alembic(program, "downgrade", f"{current}:{target or 'base'}", "--sql")


def session_env(lock_timeout: float, statement_timeout: float) -> dict[str, str]:
    """PGOPTIONS for a migration's database session (libpq reads it): bounded lock waits and statements, in ms."""
    lock, statement = round(lock_timeout * 1000), round(statement_timeout * 1000)
    return {"PGOPTIONS": f"-c lock_timeout={lock} -c statement_timeout={statement}"}


def history(program: str) -> list[str]:
    """The revision history the code ships (reads no database)."""
    return _alembic(program, "history")


def stamp(program: str, revision: str) -> list[str]:
    """Mark the database at `revision`; --purge first empties alembic_version, so it works from any revision."""
    return _alembic(program, "stamp", "--purge", revision)


def revision(program: str, message: str, *, autogenerate: bool) -> list[str]:
    """alembic revision -m MSG, compared with the database with autogenerate."""
    flags = ["--autogenerate"] if autogenerate else []
    return _alembic(program, "revision", *flags, "-m", message)
