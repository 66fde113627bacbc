"""One JSON object per log line on stdout."""

from __future__ import annotations

import json
import logging
import sys
import time

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record and its `extra=` fields as a single JSON line."""

    def __init__(self, static: dict[str, str]):
        super().__init__()
        self.static = static

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line for `record`."""
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = {"ts": ts, "level": record.levelname, "logger": record.name, "msg": record.getMessage(), **self.static}
        line.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup(service: str, version: str, color: str, level: str = "INFO") -> logging.Logger:
    """Send every log record to stdout as JSON tagged with service, version and colour; return the service logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter({"service": service, "version": version, "color": color}))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    return logging.getLogger(f"ghostworks.{service}")
