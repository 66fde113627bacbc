"""orders.status (expand only: a default, so v1.0.0 keeps inserting without it)

Revision ID: 0005_order_status
Revises: 0004_merge
Create Date: 2024-06-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_order_status"
down_revision = "0004_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("status", sa.Text(), nullable=False, server_default="new"))


def downgrade() -> None:
    op.drop_column("orders", "status")
