"""PURE: the slowest requests per endpoint pattern from the api's JSON log lines, with their correlation IDs.

Which field holds a request's duration (and in which unit) is the app contract's (`logs.duration_key`,
`logs.duration_unit`); the path field is `logs.path_key`, the id field `request_id`. An endpoint pattern is
the path with what varies replaced (ids, numbers, UUIDs: ghosttasks.decisions.log_patterns.normalise), so
`/api/v1/artifacts/42` and `/api/v1/artifacts/7` are one endpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_SEGMENT_ID = re.compile(
    r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})(?=/|$)"
)
UNITS = {"ms": 0.001, "s": 1.0, "us": 0.000001}


def endpoint(method: str | None, path: str) -> str:
    """`GET /api/v1/artifacts/<id>`: the query string dropped, id-like segments replaced."""
    path = path.split("?", 1)[0]
    pattern = _SEGMENT_ID.sub("/<id>", path)
    return f"{method} {pattern}" if method else pattern


@dataclass(frozen=True)
class Request:
    endpoint: str
    seconds: float
    request_id: str
    status: str
    at: str


@dataclass
class Endpoint:
    """One endpoint pattern: how many requests, how many over the threshold, the slowest ones."""

    pattern: str
    count: int = 0
    slow: int = 0
    slowest: list[Request] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return self.slowest[0].seconds if self.slowest else 0.0


def parse_requests(text: str, *, duration_key: str, unit: str = "ms", path_key: str = "path") -> list[Request]:
    """Every JSON line that carries a duration and a path, as a Request (other lines are skipped)."""
    scale = UNITS[unit]
    found = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(data, dict) or duration_key not in data or path_key not in data:
            continue
        try:
            seconds = float(data[duration_key]) * scale
        except (TypeError, ValueError):
            continue
        found.append(
            Request(
                endpoint=endpoint(data.get("method"), str(data[path_key])),
                seconds=round(seconds, 3),
                request_id=str(data.get("request_id") or "-"),
                status=str(data.get("status") or "-"),
                at=str(data.get("ts") or ""),
            )
        )
    return found


def slowest(requests: list[Request], threshold: float, per_endpoint: int = 3) -> list[Endpoint]:
    """Endpoints with a request at or over `threshold` seconds, the slowest first, each with its slowest
    `per_endpoint` requests (slowest first)."""
    groups: dict[str, Endpoint] = {}
    for request in requests:
        group = groups.setdefault(request.endpoint, Endpoint(request.endpoint))
        group.count += 1
        if request.seconds >= threshold:
            group.slow += 1
            group.slowest.append(request)
    found = []
    for group in groups.values():
        if group.slow:
            group.slowest = sorted(group.slowest, key=lambda r: (-r.seconds, r.request_id))[:per_endpoint]
            found.append(group)
    return sorted(found, key=lambda group: (-group.worst, group.pattern))
