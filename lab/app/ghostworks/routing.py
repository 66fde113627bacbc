"""Route table and path normalisation (the low-cardinality `path` label of the metrics)."""

from __future__ import annotations

import re

ID = "{id}"
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{16,})$", re.ASCII)

#: (method, normalised path) -> handler name on the api.
ROUTES = {
    ("GET", "/api/v1/health"): "health",
    ("GET", "/metrics"): "metrics",
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/api/v1/auth/refresh"): "refresh",
    ("GET", "/api/v1/artifacts"): "list_artifacts",
    ("POST", "/api/v1/artifacts"): "create_artifact",
    ("GET", f"/api/v1/artifacts/{ID}"): "get_artifact",
    ("PUT", f"/api/v1/artifacts/{ID}"): "update_artifact",
    ("DELETE", f"/api/v1/artifacts/{ID}"): "delete_artifact",
    ("POST", "/api/v1/jobs"): "enqueue_job",
}
KNOWN_PATHS = frozenset(path for _, path in ROUTES)
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"})


def split_path(raw: str) -> tuple[str, list[str]]:
    """Return (normalised path, ids) for a request path: query dropped, id-like segments replaced by `{id}`."""
    path = raw.split("?", 1)[0].split("#", 1)[0]
    ids: list[str] = []
    parts = []
    for part in path.split("/"):
        if _ID_SEGMENT.match(part):
            ids.append(part)
            part = ID
        parts.append(part)
    normalised = "/".join(parts).rstrip("/") or "/"
    return normalised, ids


def metric_path(raw: str) -> str:
    """The `path` label for `raw`: a known route template, or "other" so unknown URLs cannot explode cardinality."""
    path, _ = split_path(raw)
    return path if path in KNOWN_PATHS else "other"


def metric_method(method: str) -> str:
    """The `method` label: a standard HTTP method or "OTHER"."""
    return method if method in METHODS else "OTHER"


def resolve(method: str, raw: str) -> tuple[str | None, list[str], bool]:
    """Return (handler name or None, ids, whether the path exists for some other method)."""
    path, ids = split_path(raw)
    return ROUTES.get((method, path)), ids, path in KNOWN_PATHS
