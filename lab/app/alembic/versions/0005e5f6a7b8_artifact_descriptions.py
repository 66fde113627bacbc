"""Artifact descriptions.

Revision ID: 0005e5f6a7b8
Revises: 0003c3d4e5f6
Create Date: 2024-04-01 10:00:00

Shipped in v1.3.0. Expand only: a new nullable column, so v1.1.0 and v1.0.0 code keep working on this
schema (their inserts leave it NULL). Adding a nullable column without a default touches no row, so the
ACCESS EXCLUSIVE lock is held only for the catalogue change. The downgrade drops the column and with it
every description written since.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005e5f6a7b8"
down_revision = "0003c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifacts", sa.Column("description", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.drop_column("artifacts", "description")
