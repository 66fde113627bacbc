"""The fault drills' migrations (tags v1.2.0-badmigration, -dropcolumn, -lockingindex): each file's path in
lab/app and its source, written into the tree when the drill's tag is built (lab/releases.py)."""

from __future__ import annotations

BAD_MIGRATION = "alembic/versions/0004d4e5f6a7_artifact_checksums.py"
BAD_MIGRATION_SOURCE = '''"""Artifact checksums.

Revision ID: 0004d4e5f6a7
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:10:00

FAULT DRILL (tag v1.2.0-badmigration): the backfill names a column that does not exist (`body`; the
column is `content`), so PostgreSQL rejects the UPDATE with UndefinedColumn. Alembic runs the pending
revisions in one transaction: the new column is rolled back as well and alembic_version is unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004d4e5f6a7"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifacts", sa.Column("checksum", sa.String(length=64), nullable=True))
    op.execute("UPDATE artifacts SET checksum = md5(body)")


def downgrade() -> None:
    op.drop_column("artifacts", "checksum")
'''

DROP_COLUMN_MIGRATION = "alembic/versions/0006f6a7b8c9_drop_artifact_tags.py"
DROP_COLUMN_SOURCE = '''"""Drop artifact tags.

Revision ID: 0006f6a7b8c9
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:40:00

FAULT DRILL (tag v1.2.0-dropcolumn): a contract step shipped in the same release as the code that stops
reading the column. v1.1.0, still serving on the other colour until the switch (and again after a rollback),
selects artifacts.tags: its artifact endpoints answer 500 (UndefinedColumn) as soon as this runs. The
migration lint refuses it; the safe way is to ship the code first and drop the column a release later.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006f6a7b8c9"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("artifacts", "tags")


def downgrade() -> None:
    op.add_column(
        "artifacts",
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'::text[]")),
    )
'''
LOCKING_INDEX_MIGRATION = "alembic/versions/0007a7b8c9d0_artifact_name_index.py"
LOCKING_INDEX_SOURCE = '''"""Index artifact names.

Revision ID: 0007a7b8c9d0
Revises: 0003c3d4e5f6
Create Date: 2024-03-01 10:50:00

FAULT DRILL (tag v1.2.0-lockingindex): a plain CREATE INDEX (not CONCURRENTLY) takes a SHARE lock on
artifacts: while it waits for that lock or builds the index, every write to artifacts waits behind it. The
migration lint warns (locking); a transaction holding a conflicting lock makes it wait until lock_timeout.
"""

from alembic import op

revision = "0007a7b8c9d0"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_name", "artifacts", ["name"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_name", table_name="artifacts")
'''
