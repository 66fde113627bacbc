"""Alembic environment: DATABASE_URL from the environment; no ORM metadata (migrations are written by hand)."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    return url


if context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    options = os.environ.get("PGOPTIONS") or "-c lock_timeout=10000"
    engine = create_engine(database_url(), poolclass=pool.NullPool, connect_args={"options": options})
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
