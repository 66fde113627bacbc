"""PURE: the slowest requests per endpoint pattern from the api's log lines, with their correlation IDs.

The lines are read as the app contract's `logs:` describes them. JSON lines: the duration is `logs.duration_key`
(in `logs.duration_unit`), the path `logs.path_key`, the request id `logs.request_id_key`, the method, status
and time `logs.method_key`, `logs.status_key`, `logs.time_key`. Text lines: `logs.pattern`'s named groups
`duration` (in `logs.duration_unit`), `path`, `request_id`, `method`, `status` and `time`. A line without a
duration and a path is not a request line; any other field a line does not carry stays None (shown as
`not available`, never guessed). An endpoint pattern is the path with what varies replaced (ids, numbers,
UUIDs), so `/api/v1/artifacts/42` and `/api/v1/artifacts/7` are one endpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ghosttasks.config.settings import LogSettings

_SEGMENT_ID = re.compile(
    r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})(?=/|$)"
)
UNITS = {"ms": 0.001, "s": 1.0, "us": 0.000001}
#: The named groups of a text `logs.pattern` that --slow reads (duration and path are required on a line).
TEXT_GROUPS = ("duration", "path", "request_id", "method", "status", "time")
#: How a field the app's log lines do not carry is shown.
NOT_AVAILABLE = "not available"


def endpoint(method: str | None, path: str) -> str:
    """`GET /api/v1/artifacts/<id>`: the query string dropped, id-like segments replaced."""
    path = path.split("?", 1)[0]
    pattern = _SEGMENT_ID.sub("/<id>", path)
    return f"{method} {pattern}" if method else pattern


@dataclass(frozen=True)
class Request:
    endpoint: str
    seconds: float
    request_id: str | None  # None: the app's line does not carry it
    status: str | None
    at: str | None
    method: str | None = None


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


def missing_groups(settings: LogSettings) -> list[str]:
    """The groups a text `logs.pattern` lacks for --slow to find a request line (duration, path); [] for JSON."""
    if settings.format != "text":
        return []
    groups = re.compile(settings.pattern or "").groupindex
    return [name for name in ("duration", "path") if name not in groups]


def _fields(raw: str, settings: LogSettings) -> dict[str, object] | None:
    """A line's fields under the TEXT_GROUPS names, or None when it is not a line of the app's format."""
    if settings.format == "text":
        match = re.search(settings.pattern or "", raw)
        if match is None:
            return None
        groups = match.groupdict()
        return {name: groups.get(name) for name in TEXT_GROUPS}
    if not raw.startswith("{"):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    keys = {
        "duration": settings.duration_key,
        "path": settings.path_key,
        "request_id": settings.request_id_key,
        "method": settings.method_key,
        "status": settings.status_key,
        "time": settings.time_key,
    }
    return {name: data.get(key) for name, key in keys.items()}


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_requests(text: str, settings: LogSettings) -> list[Request]:
    """Every log line that carries a duration and a path, as a Request (other lines are skipped)."""
    scale = UNITS[settings.duration_unit]
    found = []
    for raw in text.splitlines():
        fields = _fields(raw.strip(), settings)
        if fields is None or fields.get("duration") is None or _text(fields.get("path")) is None:
            continue
        try:
            seconds = float(fields["duration"]) * scale  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        method = _text(fields.get("method"))
        found.append(
            Request(
                endpoint=endpoint(method, str(fields["path"])),
                seconds=round(seconds, 3),
                request_id=_text(fields.get("request_id")),
                status=_text(fields.get("status")),
                at=_text(fields.get("time")),
                method=method,
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
            group.slowest = sorted(group.slowest, key=lambda r: (-r.seconds, r.request_id or ""))[:per_endpoint]
            found.append(group)
    return sorted(found, key=lambda group: (-group.worst, group.pattern))
