"""A small psycopg2 connection pool for DATABASE_URL.

psycopg2's ThreadedConnectionPool raises "connection pool exhausted" instead of waiting when all
its connections are lent out; the HTTP server runs one thread per request, so a burst of
requests (a load loop, health probes and the monitor at once) made the shop answer 500. A
semaphore in front of the pool makes a request wait for a free connection, as real pools do.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

from psycopg2.pool import ThreadedConnectionPool

MAX_CONNECTIONS = 8
WAIT_FOR_CONNECTION_SECONDS = 10
_free_connections = threading.BoundedSemaphore(MAX_CONNECTIONS)


@functools.cache
def _pool(url: str) -> ThreadedConnectionPool:
    return ThreadedConnectionPool(1, MAX_CONNECTIONS, url, connect_timeout=3, application_name="shop")


@contextlib.contextmanager
def cursor(url: str) -> Iterator:
    """A cursor in a transaction (committed on success, rolled back on error); broken connections are dropped."""
    if not _free_connections.acquire(timeout=WAIT_FOR_CONNECTION_SECONDS):
        raise TimeoutError(f"no free database connection after {WAIT_FOR_CONNECTION_SECONDS} s")
    try:
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
    finally:
        _free_connections.release()
