"""Prometheus metrics of the api (honours PROMETHEUS_MULTIPROC_DIR: call `prepare()` before the first request).

Every sample carries `version`, the version the api reports in its health answer (APP_VERSION): a colour's
samples from its previous occupant stay apart from the new version's, so monitoring can judge one version only
(`ghostworks_http_requests_total{color="green",version="v1.3.0"}`).
"""

from __future__ import annotations

import os
import pathlib

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "ghostworks_http_requests_total", "HTTP requests handled by the api.", ["method", "path", "status", "version"]
)
DURATION = Histogram(
    "ghostworks_http_request_duration_seconds",
    "Time the api took to answer, by route.",
    ["method", "path", "version"],
    buckets=BUCKETS,
)


def prepare() -> None:
    """Create PROMETHEUS_MULTIPROC_DIR if set and drop files a previous run of this container left behind."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = pathlib.Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def observe(method: str, path: str, status: int, seconds: float, version: str) -> None:
    """Count one request of the api running `version` (method and path already normalised)."""
    REQUESTS.labels(method, path, str(status), version).inc()
    DURATION.labels(method, path, version).observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
