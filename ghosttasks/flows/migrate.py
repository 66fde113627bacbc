"""Alembic in an api container: read the current revision, upgrade to the new version's head."""

from __future__ import annotations

from ghosttasks import assumptions
from ghosttasks.commands import alembic, compose
from ghosttasks.errors import OperationFailed
from ghosttasks.executor import Result
from ghosttasks.flows.projects import ApiTarget
from ghosttasks.run import Run

UNKNOWN_REVISION = "Can't locate revision"


def alembic_in(
    run: Run,
    target: ApiTarget,
    argv: list[str],
    *,
    what: str,
    stream: bool = True,
    assume: str = "",
    check: bool = True,
) -> Result:
    """Run an alembic command line in the target's api container."""
    return run.executor.run(
        target.host, compose.exec_(target.project, "api", argv), what=what, stream=stream, assume=assume, check=check
    )


def current_revision(run: Run, target: ApiTarget) -> str | None:
    """The database's revision as the target's code reads it (None for an empty database)."""
    result = alembic_in(
        run,
        target,
        alembic.current(run.env.app.alembic),
        what="alembic current",
        stream=False,
        assume=assumptions.ALEMBIC_CURRENT,
    )
    return parse_revision(result.stdout)


def migrate_to_head(run: Run, new: ApiTarget, version: str, *, serving: ApiTarget | None) -> str | None:
    """`alembic upgrade head` from the new version's container, unless the database is already newer.

    When the new version's code cannot locate the database's revision, the database is ahead of it
    (an older version being deployed): migrations are backward compatible, so that version runs on
    the newer schema as it is, and we say so. The revision is then read through the serving colour.
    """
    argv = alembic.current(run.env.app.alembic)
    found = alembic_in(
        run, new, argv, what="alembic current", stream=False, check=False, assume=assumptions.ALEMBIC_CURRENT
    )
    if not found.ok and UNKNOWN_REVISION in found.stdout + found.stderr:
        current = current_revision(run, serving) if serving else None
        run.out.warn(
            f"the database is at {current or 'a revision'} newer than anything {version} ships: not migrating "
            f"(to take the schema back too, use inv deploy.rollback --to {version})"
        )
        return current
    if not found.ok:
        raise OperationFailed(f"alembic current failed: {found.describe()}")
    alembic_in(run, new, alembic.upgrade(run.env.app.alembic), what="alembic upgrade head")
    return current_revision(run, new)


def parse_revision(text: str) -> str | None:
    """The revision id from `alembic current` output (None for an empty database)."""
    for line in text.splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if word and all(ch in "0123456789abcdef" for ch in word) and len(word) >= 4:
            return word
    return None
