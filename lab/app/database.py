"""Runbook shim: `python3 -c "from database import engine ..."` in the api container."""

from ghostworks.database import get_engine

engine = get_engine()

__all__ = ["engine"]
