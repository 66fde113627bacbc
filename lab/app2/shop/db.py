"""A small psycopg2 connection pool for DATABASE_URL."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from psycopg2.pool import ThreadedConnectionPool


@functools.cache
def _pool(url: str) -> ThreadedConnectionPool:
    return ThreadedConnectionPool(1, 8, url, connect_timeout=3, application_name="shop")


@contextlib.contextmanager
def cursor(url: str) -> Iterator:
    """A cursor in a transaction (committed on success, rolled back on error); broken connections are dropped."""
    pool = _pool(url)
    conn = pool.getconn()
    broken = False
    try:
        with conn, conn.cursor() as cur:
            yield cur
    except Exception:
        broken = bool(conn.closed)
        raise
    finally:
        pool.putconn(conn, close=broken)
