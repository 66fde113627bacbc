"""Settings from the environment (compose passes them; nothing is read from files)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    bind: str
    orders_port: int
    storefront_port: int
    database_url: str
    log_level: str


def load() -> Settings:
    """The settings of this process."""
    return Settings(
        bind=os.environ.get("LISTEN_HOST", "127.0.0.1"),
        orders_port=int(os.environ.get("ORDERS_PORT", "9000")),
        storefront_port=int(os.environ.get("STOREFRONT_PORT", "9001")),
        database_url=os.environ.get("DATABASE_URL", ""),
        log_level=os.environ.get("LOG_LEVEL", "INFO"),
    )
