"""prometheus_client's usual names: http_requests_total{method,handler,status} and
http_request_duration_seconds{method,handler} (no version, no colour: Prometheus adds the colour from the target)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests", "HTTP requests.", ["method", "handler", "status"])
DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration.",
    ["method", "handler"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe(method: str, handler: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, handler, str(status)).inc()
    DURATION.labels(method, handler).observe(seconds)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
