"""customers (a branch of its own from 0001_init, written beside 0002_orders)

Revision ID: 0003_customers
Revises: 0001_init
Create Date: 2024-05-01 09:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_customers"
down_revision = "0001_init"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customers")
