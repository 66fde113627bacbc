"""What a dry run assumes its reads return: it opens no connection, so every read that steers the plan
is answered from here, and the plan says so. Neutral example values, not any real app's.
"""

from __future__ import annotations

from ghosttasks.run import PLAN_TIME
from ghosttasks.state import ColorState, DeployState

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
    updated_at=PLAN_TIME,
)

#: `alembic current` in any container: the database is at the newer head.
ALEMBIC_CURRENT = f"{NEWER_HEAD} (head)"

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
