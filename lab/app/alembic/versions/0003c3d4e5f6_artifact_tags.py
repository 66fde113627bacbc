"""Artifact tags.

Revision ID: 0003c3d4e5f6
Revises: 0002b2c3d4e5
Create Date: 2024-02-01 10:00:00

Shipped in v1.1.0. A new column with a server default: v1.0.0 code keeps working on this schema.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003c3d4e5f6"
down_revision = "0002b2c3d4e5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "artifacts",
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("artifacts", "tags")
