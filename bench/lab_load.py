"""Client load through the lab's LB for lab_bench.py: one client of each kind in its own thread, every request
counted with what failed and during which command; and a watcher of the colour the LB answers from."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

LB_ADDRESS, LB_PORT = "127.0.0.10", 80  # the lab's LB (lab/hosts.yml lb.public_url)
HEALTH_PATH = "/api/v1/health"
# Harmless POST the demo app answers without touching the database: a refresh with a token that is not one
# (401 "invalid refresh token"). A 401 is an answer; only an exception or a 5xx is a failure.
POST_PATH, POST_BODY = "/api/v1/auth/refresh", b'{"refresh_token": "ghosttasks-bench-not-a-token"}'
CLIENT_KINDS = {
    "new": "new connection per request (httpx GET)",
    "keepalive_retry": "httpx keep-alive pool, GET retried once",
    "keepalive_raw": "httpx keep-alive pool, GET never retried",
    "raw_get": "http.client keep-alive GET, never retried",
    "raw_post": "http.client keep-alive POST, never retried",
}
CLIENT_PAUSE_S = 0.02  # between two requests of one client: ~150 requests/s in all through the LB


@dataclass
class ClientStats:
    """What one client saw: requests, failures (exception type or `HTTP 5xx`), answers, reconnections."""

    requests: int = 0
    failed: int = 0
    failures: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    colours: Counter = field(default_factory=Counter)
    retried: int = 0  # keepalive_retry: requests whose first attempt failed
    connections: int = 0  # http.client kinds: connections opened (after an error, or a `Connection: close`)
    failure_log: list[dict[str, Any]] = field(default_factory=list)


def answer_colour(body: bytes) -> str | None:
    """The `color` of a health answer."""
    try:
        return json.loads(body).get("color")
    except (ValueError, AttributeError):
        return None


class Load:
    """One client of each CLIENT_KINDS kind, each in its own thread, until stopped (bounded in time and count).

    `during` names the command running now; each failure is logged with it.
    """

    def __init__(self, *, max_seconds: float = 1800, max_requests: int = 200_000, pause: float = CLIENT_PAUSE_S):
        self.max_seconds, self.max_requests, self.pause = max_seconds, max_requests, pause
        self.stats = {kind: ClientStats() for kind in CLIENT_KINDS}
        self.during = "start"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop_of(kind), args=(kind,), name=f"client-{kind}") for kind in CLIENT_KINDS
        ]
        self.started = time.monotonic()

    def _loop_of(self, kind: str) -> Any:
        return self._http_client_loop if kind.startswith("raw_") else self._httpx_loop

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _going(self, stats: ClientStats) -> bool:
        return (
            not self._stop.is_set()
            and time.monotonic() - self.started < self.max_seconds
            and stats.requests < self.max_requests
        )

    def _count(self, stats: ClientStats, status: int | None, error: str | None, colour: str | None = None) -> None:
        stats.requests += 1
        if status is not None:
            stats.statuses[status] += 1
        if colour:
            stats.colours[colour] += 1
        what = error or (f"HTTP {status}" if status is not None and status >= 500 else None)
        if what:
            stats.failed += 1
            stats.failures[what] += 1
            stats.failure_log.append(
                {"t": round(time.monotonic() - self.started, 3), "during": self.during, "what": what}
            )

    def _httpx_loop(self, kind: str) -> None:
        import httpx

        stats = self.stats[kind]
        keep = 0 if kind == "new" else 10
        attempts = 2 if kind == "keepalive_retry" else 1  # RFC 9110: an idempotent GET may be retried
        limits = httpx.Limits(max_keepalive_connections=keep)
        with httpx.Client(base_url=f"http://{LB_ADDRESS}:{LB_PORT}", timeout=5, limits=limits) as client:
            while self._going(stats):
                for attempt in range(attempts):
                    status = error = colour = None
                    try:
                        response = client.get(HEALTH_PATH)
                        status, colour = response.status_code, answer_colour(response.content)
                    except httpx.HTTPError as exc:
                        error = type(exc).__name__
                    if (error is None and status < 500) or attempt == attempts - 1:
                        break
                    stats.retried += 1
                self._count(stats, status, error, colour)
                time.sleep(self.pause)

    def _http_client_loop(self, kind: str) -> None:
        stats = self.stats[kind]
        post = kind == "raw_post"
        method, path, body = ("POST", POST_PATH, POST_BODY) if post else ("GET", HEALTH_PATH, None)
        headers = {"Content-Type": "application/json"} if post else {}
        connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
        try:
            while self._going(stats):
                if connection.sock is None:
                    stats.connections += 1  # http.client opens one: first request, or the server closed it
                status = error = colour = None
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    status, colour = response.status, None if post else answer_colour(data)
                except (OSError, http.client.HTTPException) as exc:
                    error = type(exc).__name__
                    connection.close()
                    connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=5)
                self._count(stats, status, error, colour)
                time.sleep(self.pause)
        finally:
            connection.close()

    def summary(self) -> dict[str, Any]:
        """Plain-JSON stats per kind (Counters as dicts)."""
        return {
            kind: {name: dict(value) if isinstance(value, Counter) else value for name, value in vars(stats).items()}
            for kind, stats in self.stats.items()
        }


def watch_until_lb_answers(colour: str, started: float, stop: threading.Event, seen: list[float]) -> None:
    """Poll the LB's health on new connections every 5 ms (at most 120 s) until it answers from `colour`."""
    while not stop.is_set() and time.monotonic() - started < 120:
        connection = http.client.HTTPConnection(LB_ADDRESS, LB_PORT, timeout=2)
        try:
            connection.request("GET", HEALTH_PATH)
            if answer_colour(connection.getresponse().read()) == colour:
                seen.append(time.monotonic() - started)
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.005)


@dataclass
class LbWatch:
    """What watching_lb saw: when it started, and the seconds after that at which the LB answered the colour."""

    started: float
    seen: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return self.seen[0] if self.seen else None


@contextlib.contextmanager
def watching_lb(colour: str | None) -> Iterator[LbWatch]:
    """Watch the LB (watch_until_lb_answers) while the body runs a command, and up to 5 s after it; no colour:
    nothing is watched."""
    watch = LbWatch(time.monotonic())
    stop = threading.Event()
    watcher = threading.Thread(target=watch_until_lb_answers, args=(colour, watch.started, stop, watch.seen))
    if colour:
        watcher.start()
    try:
        yield watch
        if colour:
            watcher.join(timeout=5)  # it moved during the command (the command verifies it), or 5 s more
    finally:
        stop.set()
        if colour:
            watcher.join(timeout=5)
