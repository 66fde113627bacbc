"""Engine and sessions for DATABASE_URL, plus the health checks of PostgreSQL and Redis."""

from __future__ import annotations

import functools
import os

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .config import settings

CONNECT_TIMEOUT_S = 2


def sqlalchemy_url(url: str) -> str:
    """Accept the `postgres://` spelling too; SQLAlchemy wants `postgresql://` (psycopg2 driver)."""
    return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url


def application_name() -> str:
    """`ghostworks-blue@127.0.0.11`: the colour and the host's address of a connection, in pg_stat_activity
    (db.activity maps connections by it: on one machine every client address is the same)."""
    return f"ghostworks-{os.environ.get('COLOR', 'none')}@{os.environ.get('BIND_ADDR', '127.0.0.1')}"


def make_engine(url: str) -> Engine:
    """An engine with short connect timeouts and a small, pre-pinged pool."""
    return create_engine(
        sqlalchemy_url(url),
        future=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": application_name()},
    )


@functools.cache
def get_engine() -> Engine:
    """The process-wide engine for DATABASE_URL."""
    return make_engine(settings.database_url)


def session() -> Session:
    """A new ORM session (use as a context manager)."""
    return Session(get_engine(), future=True, expire_on_commit=False)


@functools.cache
def get_redis() -> redis.Redis:
    """The process-wide Redis client for REDIS_URL."""
    return redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )


def _message(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def check_database() -> str:
    """ "ok" when `SELECT 1` succeeds, else the error message."""
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return _message(exc)


def check_redis() -> str:
    """ "ok" when PING succeeds, else the error message."""
    try:
        get_redis().ping()
        return "ok"
    except Exception as exc:
        return _message(exc)
