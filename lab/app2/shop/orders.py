"""The orders service (`python3 -m shop.orders`): GET /healthz, GET|POST /orders, GET /customers, /metrics."""

from __future__ import annotations

import itertools
import json

from shop import faults, http, logs, settings
from shop.db import cursor

CONFIG = settings.load()
LOG = logs.setup(CONFIG.log_level)
# The order columns this release reads (0005_order_status adds `status` in v1.1.0).
COLUMNS = ("id", "product", "quantity", "customer_id", "status")
_requests = itertools.count(1)


def healthz(method: str, body: bytes, rid: str) -> http.Reply:
    try:
        with cursor(CONFIG.database_url) as cur:
            cur.execute("SELECT 1")
        return http.as_json(200, {"healthy": True, "db": "up"})
    except Exception as exc:
        LOG.error("health: database unreachable: %s", exc, extra={"rid": rid})
        return http.as_json(503, {"healthy": False, "db": "down"})


def orders(method: str, body: bytes, rid: str) -> http.Reply:
    number = next(_requests)
    if faults.FAULT == "errors" and number > faults.ERRORS_AFTER and number % 2:
        LOG.error("orders: request %d failed (drill)", number, extra={"rid": rid})
        return http.as_json(500, {"error": "drill"})
    if method == "POST":
        if faults.FAULT == "broken_orders":
            LOG.error("orders: cannot create an order (drill)", extra={"rid": rid})
            return http.as_json(500, {"error": "drill"})
        data = json.loads(body or b"{}")
        with cursor(CONFIG.database_url) as cur:
            cur.execute(
                "INSERT INTO orders (product, quantity) VALUES (%s, %s) RETURNING id",
                (str(data.get("product", "")), int(data.get("quantity", 1))),
            )
            (new_id,) = cur.fetchone()
        return http.as_json(201, {"id": new_id})
    with cursor(CONFIG.database_url) as cur:
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM orders ORDER BY id DESC LIMIT 50")
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cur.fetchall()]
    return http.as_json(200, {"orders": rows})


def customers(method: str, body: bytes, rid: str) -> http.Reply:
    with cursor(CONFIG.database_url) as cur:
        cur.execute("SELECT id, name FROM customers ORDER BY id LIMIT 50")
        rows = [{"id": i, "name": n} for i, n in cur.fetchall()]
    return http.as_json(200, {"customers": rows})


if __name__ == "__main__":
    routes = {"/healthz": healthz, "/orders": orders, "/customers": customers}
    http.serve(routes, CONFIG.bind, CONFIG.orders_port, LOG)
