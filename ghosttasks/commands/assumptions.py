"""What a dry run assumes its reads return: it opens no connection, so every read that steers the plan
is answered from here, and the plan says so. Neutral example values, not any real app's.
"""

from __future__ import annotations

from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.placeholders import PLAN_TIME

OLDER_VERSION = "v1.0.0"
NEWER_VERSION = "v1.1.0"
OLDER_HEAD = "a1a1a1a1a1a1"
NEWER_HEAD = "b2b2b2b2b2b2"

#: The LB's state file: green serves the newer version, blue holds the older one.
STATE = DeployState(
    active="green",
    previous="blue",
    colors={
        "blue": ColorState(OLDER_VERSION, OLDER_HEAD, PLAN_TIME),
        "green": ColorState(NEWER_VERSION, NEWER_HEAD, PLAN_TIME),
    },
    version_heads={OLDER_VERSION: OLDER_HEAD, NEWER_VERSION: NEWER_HEAD},
    version_chains={OLDER_VERSION: [OLDER_HEAD], NEWER_VERSION: [OLDER_HEAD, NEWER_HEAD]},
    database_revision=NEWER_HEAD,
    updated_at=PLAN_TIME,
)

#: The database's alembic_version row: the newer head.
DATABASE_REVISION = NEWER_HEAD

#: The revision a version newer than NEWER_VERSION adds, so that a deploy's plan shows its upgrade.
NEWEST_HEAD = "c3c3c3c3c3c3"


def alembic_history(version: str | None) -> str:
    """`alembic history` of a version's code read live: a newer version than NEWER_VERSION ships one more
    revision, NEWER_VERSION the two STATE records, any older one only the older one (newest first)."""
    from ghosttasks.domain.revisions import release_key

    if version and release_key(version) > release_key(NEWER_VERSION):
        newest = f"{NEWER_HEAD} -> {NEWEST_HEAD} (head), newest"
        return f"{newest}\n{OLDER_HEAD} -> {NEWER_HEAD}, newer\n<base> -> {OLDER_HEAD}, older"
    if version == NEWER_VERSION:
        return f"{OLDER_HEAD} -> {NEWER_HEAD} (head), newer\n<base> -> {OLDER_HEAD}, older"
    return f"<base> -> {OLDER_HEAD} (head), older"


def migration_sql(direction: str, current: str | None, target: str | None) -> str:
    """alembic's offline SQL (`--sql`) for one migration: a backward-compatible new nullable column."""
    change = "ADD COLUMN note TEXT" if direction == "upgrade" else "DROP COLUMN note"
    return (
        f"BEGIN;\n\n-- Running {direction} {current or ''} -> {target or ''}\n\n"
        f"ALTER TABLE items {change};\n\n"
        f"UPDATE alembic_version SET version_num='{target}' WHERE alembic_version.version_num = '{current}';\n\n"
        "COMMIT;\n"
    )


#: Docker engine and Compose versions, MemTotal and free disk in KiB (the prerequisite facts).
PREREQUISITE_FACTS = "28.2.2\n2.40.3\n25165824\n83886080"

#: A verified backup: its size line and its sha256sum line.
BACKUP_SIZE = 1048576
BACKUP_CHECKSUM = "0" * 64

#: The commit a staging ref resolves to.
STAGING_COMMIT = "abc1234"

#: What `alembic revision` prints.
GENERATED_REVISION = "Generating /app/alembic/versions/REVISION_message.py ...  done"

#: pg_isready's answer.
DATABASE_READY = "accepting connections"


def backup_verification(path: str) -> str:
    """The output of the backup verification command for a backup at `path`."""
    return f"size={BACKUP_SIZE}\n{BACKUP_CHECKSUM}  {path.rsplit('/', 1)[1]}"


def describe_state(state: DeployState = STATE) -> str:
    """One line naming the assumed active colour and each colour's version."""
    parts = [f"active {state.active}"]
    parts += [f"{color} {info.version or 'empty'}" for color, info in state.colors.items()]
    return ", ".join(parts)


def running_containers(project: str, releases_dir: str) -> str:
    """`docker ps` on an app host: each colour's containers run the version STATE records, from its release dir."""
    return "".join(
        f"{project}-{color} {releases_dir}/{info.version}\n" for color, info in STATE.colors.items() if info.version
    )
