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
