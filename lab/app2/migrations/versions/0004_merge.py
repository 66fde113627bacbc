"""merge orders and customers; orders.customer_id

Revision ID: 0004_merge
Revises: 0002_orders, 0003_customers
Create Date: 2024-05-01 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_merge"
down_revision = ("0002_orders", "0003_customers")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("customer_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "customer_id")
