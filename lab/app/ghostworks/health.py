"""The health answer from check results (pure, so it is unit-tested without databases)."""

from __future__ import annotations


def api_health(version: str, color: str, checks: dict[str, str], fault: str | None = None) -> tuple[int, dict]:
    """Return (HTTP status, body) for `GET /api/v1/health` given each check's "ok" or error message."""
    if fault == "unhealthy":
        return 503, {"status": "starting", "version": version, "color": color, "checks": checks}
    ok = all(result == "ok" for result in checks.values())
    return (200 if ok else 503), {
        "status": "ok" if ok else "error",
        "version": version,
        "color": color,
        "checks": checks,
    }


def web_health(version: str, color: str) -> tuple[int, dict]:
    """Return (HTTP status, body) for the web service's `GET /api/health`."""
    return 200, {"status": "ok", "version": version, "color": color}
