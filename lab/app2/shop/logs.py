"""Plain text logs, one line per record: `2026-12-07 10:00:00,123 ERROR [rid=abc123] message`."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s [rid=%(rid)s] %(message)s"


class _Rid(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "rid"):
            record.rid = "-"
        return True


def setup(level: str = "INFO") -> logging.Logger:
    """Every record to stdout as one text line; return the shop logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_Rid())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    return logging.getLogger("shop")
