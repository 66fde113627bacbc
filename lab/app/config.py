"""Runbook shim: `python3 -c "from config import settings; print(settings.database_url)"` in the api container."""

from ghostworks.config import Settings, settings

__all__ = ["Settings", "settings"]
