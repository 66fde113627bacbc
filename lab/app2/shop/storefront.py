"""The storefront (`python3 -m shop.storefront`): GET / (a page), GET /ping (text `OK`). No metrics."""

from __future__ import annotations

from shop import http, logs, settings

CONFIG = settings.load()
LOG = logs.setup(CONFIG.log_level)
PAGE = "<!doctype html><title>Shop</title><h1>Shop</h1><p>Orders: <a href='/orders'>/orders</a></p>\n"


def ping(method: str, body: bytes, rid: str) -> http.Reply:
    return http.as_text(200, "OK\n")


def page(method: str, body: bytes, rid: str) -> http.Reply:
    return 200, PAGE.encode(), "text/html; charset=utf-8"


if __name__ == "__main__":
    http.serve({"/": page, "/ping": ping}, CONFIG.bind, CONFIG.storefront_port, LOG, measured=False)
