"""alembic command lines (argv), run inside the api container through compose exec."""

from __future__ import annotations

import re
import shlex

from ghosttasks.commands import assumptions
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revisions import parse_alembic_history, parse_messages, release_key

GENERATED_RE = re.compile(r"Generating (\S+\.py)")


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


def _assumed_history(version: str | None) -> str:
    """`alembic history` of a version's code in a dry run: a version newer than the example's newer one ships
    one more revision, the newer one the two the example state records, any older one only the older one."""
    older, newer = assumptions.OLDER_HEAD, assumptions.NEWER_HEAD
    if version and release_key(version) > release_key(assumptions.NEWER_VERSION):
        newest = f"{newer} -> {assumptions.NEWEST_HEAD} (head), newest"
        return f"{newest}\n{older} -> {newer}, newer\n<base> -> {older}, older"
    if version == assumptions.NEWER_VERSION:
        return f"{older} -> {newer} (head), newer\n<base> -> {older}, older"
    return f"<base> -> {older} (head), older"


def revisions(command: str, version: str | None) -> Fact[tuple[tuple[str, ...], dict[str, str]]]:
    """`command` (an `alembic history` in `version`'s code): its revision chain, base first, and each
    revision's message; output that is no history fails naming the version."""

    def parse(answer: Answer) -> tuple[tuple[str, ...], dict[str, str]]:
        try:
            return parse_alembic_history(answer.stdout), parse_messages(answer.stdout)
        except ValueError as exc:
            raise OperationFailed(f"{version}: {exc}") from None

    return Fact("alembic history", command, parse, _assumed_history(version))


def history_text(command: str, version: str | None) -> Fact[str]:
    """`command` (an `alembic history` in `version`'s code) as alembic printed it, to be shown."""
    return Fact(
        "alembic history", command, lambda answer: (answer.stdout + answer.stderr).strip(), _assumed_history(version)
    )


def offline_sql(command: str, direction: str, current: str | None, target: str | None) -> Fact[str]:
    """The SQL `command` (alembic --sql) prints; a dry run assumes a backward-compatible new nullable column."""
    change = "ADD COLUMN note TEXT" if direction == "upgrade" else "DROP COLUMN note"
    assumed = (
        f"BEGIN;\n\n-- Running {direction} {current or ''} -> {target or ''}\n\n"
        f"ALTER TABLE items {change};\n\n"
        f"UPDATE alembic_version SET version_num='{target}' WHERE alembic_version.version_num = '{current}';\n\n"
        "COMMIT;\n"
    )
    return Fact(f"alembic {direction} --sql", command, lambda answer: answer.stdout, assumed)


def generated(command: str) -> Fact[str]:
    """The path of the migration file `command` (alembic revision) generated, from what it said."""

    def parse(answer: Answer) -> str:
        match = GENERATED_RE.search(answer.stdout + answer.stderr)
        if not match:
            raise OperationFailed(f"alembic did not say which file it generated: {answer.describe()}")
        return match.group(1)

    assumed = "Generating /app/alembic/versions/REVISION_message.py ...  done"
    return Fact("alembic revision", command, parse, assumed, stream=True)
