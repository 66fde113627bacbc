"""Alembic environment: DATABASE_URL from the environment, all revisions in one transaction (online)."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from ghostworks.database import sqlalchemy_url
from ghostworks.models import Base
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# A migration waits at most this long for a table lock held by live traffic, then fails cleanly; a deploy tool
# passes its own bounds in PGOPTIONS (libpq's variable), which then replace this default.
LOCK_TIMEOUT_MS = 10_000


def database_url() -> str:
    """DATABASE_URL, or a clear error when it is missing."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set; alembic reads the database URL from the environment")
    return sqlalchemy_url(url)


def run_offline() -> None:
    """`--sql` mode: print the SQL instead of running it."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        transaction_per_migration=True,  # BEGIN/COMMIT per revision: each revision's SQL reviewed on its own
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the pending revisions in a single transaction: a failing revision leaves nothing half-applied."""
    engine = create_engine(
        database_url(),
        poolclass=pool.NullPool,
        connect_args={
            "connect_timeout": 5,
            "options": os.environ.get("PGOPTIONS") or f"-c lock_timeout={LOCK_TIMEOUT_MS}",
        },
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
