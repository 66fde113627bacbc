"""HTTP probes with httpx, retried with tenacity: health, traffic sampling, Prometheus queries."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.config.settings import HealthSettings
from ghosttasks.decisions import health_answers
from ghosttasks.decisions.health_answers import Judged
from ghosttasks.execution import trust

Log = Callable[[str], None]
#: The shortest timeout the last request before a deadline gets (seconds).
MIN_REQUEST_TIMEOUT = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter under a total deadline (and optionally a number of attempts)."""

    deadline: float = 120.0
    initial: float = 0.5
    maximum: float = 5.0
    attempts: int | None = None
    request_timeout: float = 5.0


@dataclass
class Health:
    url: str
    ok: bool
    status_code: int | None = None
    body: dict[str, Any] = field(default_factory=dict)  # the JSON object answered ({} when it was none)
    error: str | None = None
    attempts: int = 1
    elapsed: float = 0.0
    connected: bool = True  # False: no connection could be made (refused, unreachable, no SSH channel)
    judged: Judged | None = None  # the answer against the health contract (None: no answer)
    served_by: str | None = None  # the LB's colour header (None: not asked for, or absent)

    @property
    def version(self) -> str | None:
        """The release tag the answer names (per health.version_from / version_format); None: not read."""
        return self.judged.version if self.judged else self.body.get("version")

    @property
    def color(self) -> str | None:
        """The colour that served, from the LB's colour header (lb.color_header); never from the app's body."""
        return self.served_by

    def summary(self) -> str:
        if self.error:
            return f"{self.url}: {self.error}"
        said = self.judged.describe() if self.judged else ""
        colour = f" colour {self.color}" if self.color else ""
        return f"{self.url}: HTTP {self.status_code}" + (f" {said}" if said else "") + colour


def check_health(
    url: str,
    *,
    expect_version: str | None = None,
    timeout: float = 5.0,
    client: Any = None,
    contract: HealthSettings | None = None,
    color_header: str | None = None,
) -> Health:
    """One attempt, judged against the health contract (health_answers.judge; default: the Ghostworks one, HTTP
    200 and JSON status ok) and, if asked, the expected version. `color_header`: read the colour that served
    from that response header (answers through the LB).

    `client`: the one to send it with (for example the run's client through SSH); None: a new direct one.
    """
    import httpx

    try:
        response = _get(url, {}, timeout=timeout, client=client)
    except httpx.HTTPError as exc:
        _raise_if_untrusted(url, exc, client)
        connected = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return Health(url, False, error=f"{type(exc).__name__}: {exc or 'no detail'}", connected=connected)
    judged = health_answers.judge(
        contract or health_answers.DEFAULT,
        response.status_code,
        response.headers,
        response.text,
        expect_version=expect_version,
    )
    body = health_answers.parse_body(response.text)
    served = health_answers.header(response.headers, color_header) if color_header else None
    return Health(
        url,
        judged.ok,
        response.status_code,
        body if isinstance(body, dict) else {},
        error=judged.reason or None,
        judged=judged,
        served_by=served,
    )


def wait_healthy(
    url: str,
    *,
    expect_version: str | None = None,
    policy: RetryPolicy = RetryPolicy(),
    log: Log | None = None,
    client: Any = None,
    cancel: threading.Event | None = None,
    contract: HealthSettings | None = None,
) -> Health:
    """Retry check_health until healthy or the deadline; returns the last answer (never raises RetryError).

    The deadline holds for the whole wait: no backoff sleeps past it and the last request's timeout is
    cut to what is left (at least MIN_REQUEST_TIMEOUT). Setting `cancel` ends the wait at once (Ctrl-C
    while other probes run in threads).
    """
    from tenacity import Retrying, retry_if_result, wait_exponential, wait_random

    started = time.monotonic()
    ends = started + policy.deadline
    backoff = wait_exponential(multiplier=policy.initial, max=policy.maximum) + wait_random(0, policy.initial)

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    def stop(state: Any) -> bool:
        too_many = bool(policy.attempts) and state.attempt_number >= policy.attempts
        return too_many or cancelled() or time.monotonic() >= ends

    def wait(state: Any) -> float:
        return max(0.0, min(backoff(state), ends - time.monotonic()))

    def attempt() -> Health:
        if cancelled():
            return Health(url, False, error="interrupted")
        timeout = min(policy.request_timeout, max(MIN_REQUEST_TIMEOUT, ends - time.monotonic()))
        return check_health(url, expect_version=expect_version, timeout=timeout, client=client, contract=contract)

    def before_sleep(state: Any) -> None:
        if log:
            last: Health = state.outcome.result()
            log(f"attempt {state.attempt_number}: {last.error} (retrying in {state.next_action.sleep:.1f} s)")

    retrying = Retrying(
        stop=stop,
        wait=wait,
        sleep=cancel.wait if cancel is not None else time.sleep,
        retry=retry_if_result(lambda health: not health.ok),
        before_sleep=before_sleep,
        retry_error_callback=lambda state: state.outcome.result(),
    )
    health: Health = retrying(attempt)
    health.attempts = retrying.statistics.get("attempt_number", 1)
    health.elapsed = time.monotonic() - started
    return health


@dataclass
class TrafficSample:
    """Answers through the LB by (colour that served, version), and the failures. The colour is the LB's colour
    header (`color_header`); an answer without it counts under colour None."""

    url: str
    answers: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    color_header: str | None = None

    @property
    def total(self) -> int:
        return sum(self.answers.values()) + len(self.failures)

    @property
    def uncoloured(self) -> int:
        """Healthy answers that carried no colour header."""
        return sum(count for (color, _), count in self.answers.items() if color is None)

    def only(self, color: str, version: str | None = None) -> bool:
        """Every sample answered healthy from this colour (and version)."""
        return not self.failures and all(
            answer_color == color and (version is None or answer_version == version)
            for answer_color, answer_version in self.answers
        )

    def summary(self) -> str:
        answers = sorted(self.answers.items(), key=lambda item: (str(item[0][0]), str(item[0][1])))
        parts = [f"{count}x {color or '?'} {version or '?'}" for (color, version), count in answers]
        if self.failures:
            parts.append(f"{len(self.failures)} failed ({self.failures[-1]})")
        return f"{self.total} requests to {self.url}: " + (", ".join(parts) or "no answers")


def sample_traffic(
    url: str,
    count: int = 10,
    *,
    timeout: float = 5.0,
    client: Any = None,
    concurrent: bool = False,
    contract: HealthSettings | None = None,
    color_header: str | None = None,
) -> TrafficSample:
    """Ask the LB `count` times, each on a new connection, which colour (its `color_header`) and version answer.

    concurrent sends them at once (a slow version then costs one request time, not count of them).
    """
    import httpx

    sample = TrafficSample(url, color_header=color_header)
    owned = client is None
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=max(count, 1))
    client = client or _direct(timeout, limits=limits)

    def one(_: int) -> Health:
        return check_health(url, timeout=timeout, client=client, contract=contract, color_header=color_header)

    try:
        if concurrent and count > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=count) as pool:
                answers = list(pool.map(one, range(count)))
        else:
            answers = [one(index) for index in range(count)]
    finally:
        if owned:
            client.close()
    for health in answers:
        if health.ok:
            sample.answers[(health.color, health.version)] += 1
        else:
            sample.failures.append(health.error or "unhealthy")
    return sample


def prometheus_query(base_url: str, query: str, *, timeout: float = 5.0, client: Any = None) -> float | None:
    """An instant PromQL query; the first sample's value, or None when there is no data (NaN too)."""
    values = prometheus_vector(base_url, query, timeout=timeout, client=client)
    if not values:
        return None
    return None if values[0] != values[0] else values[0]


def prometheus_vector(base_url: str, query: str, *, timeout: float = 5.0, client: Any = None) -> list[float]:
    """An instant PromQL query: one value per series, in Prometheus' order (NaN kept; [] when no series).
    Raises httpx.HTTPError (or KeyError/ValueError on an answer that is no query result) when it cannot ask."""
    import httpx

    owned = client is None
    client = client or httpx.Client(timeout=timeout, verify=trust.context())
    try:
        response = client.get(f"{base_url.rstrip('/')}/api/v1/query", params={"query": query}, timeout=timeout)
        response.raise_for_status()
        data = response.json()["data"]
    finally:
        if owned:
            client.close()
    if data.get("resultType") == "scalar":
        return [float(data["result"][1])]
    return [float(sample["value"][1]) for sample in data["result"]]


def prometheus_get(base_url: str, path: str, *, timeout: float = 5.0, client: Any = None) -> Any:
    """The `data` of a Prometheus HTTP API answer (targets, rules, ...)."""

    with contextlib.nullcontext(client) if client is not None else _direct(timeout) as http:
        response = http.get(f"{base_url.rstrip('/')}{path}", timeout=timeout)
        response.raise_for_status()
        return response.json()["data"]


def check_ready(url: str, *, timeout: float = 5.0, client: Any = None) -> str | None:
    """None when the URL answers 2xx, else what went wrong."""
    import httpx

    try:
        with contextlib.nullcontext(client) if client is not None else _direct(timeout) as http:
            http.get(url, timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        _raise_if_untrusted(url, exc, client)
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Correlated:
    """One request sent with an X-Request-ID: what answered (status, colour) and the id it echoed."""

    request_id: str
    status: int | None
    color: str | None = None
    echoed: str | None = None
    error: str | None = None


def send_with_request_id(
    url: str,
    request_id: str,
    *,
    timeout: float = 5.0,
    client: Any = None,
    color_header: str | None = None,
    header: str = "X-Request-ID",
) -> Correlated:
    """GET the URL on a new connection with this request id in `header` (logs.request_id_header); never raises.
    `color_header`: the colour that served is read from that response header (through the LB); else it stays
    None."""
    import httpx

    try:
        response = _get(url, {header: request_id}, timeout=timeout, client=client)
    except httpx.HTTPError as exc:
        _raise_if_untrusted(url, exc, client)
        return Correlated(request_id, None, error=f"{type(exc).__name__}: {exc or 'no detail'}")
    color = health_answers.header(response.headers, color_header) if color_header else None
    return Correlated(request_id, response.status_code, color, response.headers.get(header))


def _get(url: str, headers: dict[str, str], *, timeout: float, client: Any) -> Any:
    """GET on a new connection (`client`, or a direct one made and closed here); the response, body read.
    Raises httpx.HTTPError when no answer came."""
    import httpx

    owned = client is None
    client = client or httpx.Client(timeout=timeout, verify=trust.context())
    try:
        return client.get(url, headers={**headers, "Connection": "close"}, timeout=timeout)
    finally:
        if owned:
            client.close()


def warm_up() -> None:
    """Import httpx and make what the first direct probe would pay for (the run's SSL context, httpcore's pool
    classes: about 0.3 s of CPU here), for a command that runs this ahead (Executor.ahead) while it waits on SSH.
    A problem (a probes.ca_file that is no certificate) raises here and again in the probes, which report it."""
    import httpx

    httpx.Client(verify=trust.context()).close()


def _direct(timeout: float, **options: Any) -> Any:
    """A direct client (from this machine) that verifies with the run's trust (ghosttasks.execution.trust)."""
    import httpx

    client = httpx.Client(timeout=timeout, verify=trust.context(), **options)
    client.ghost_direct = True  # a certificate failure may be explained by reading the issuer directly
    return client


def _raise_if_untrusted(url: str, exc: BaseException, client: Any = None) -> None:
    """A certificate that does not verify is no unhealthy answer: it fails the run with one line (the URL, the
    issuer, the trust setting), whatever probe met it."""
    failure = trust.untrusted(url, exc, direct=client is None or getattr(client, "ghost_direct", False))
    if failure is not None:
        raise failure from None


def check_tls(url: str, *, timeout: float = 5.0) -> None:
    """The public URL's certificate verifies with the run's trust (any HTTP answer will do); a verification
    failure raises its one line, other errors are left to the probes that follow."""
    import httpx

    try:
        _get(url, {}, timeout=timeout, client=None)
    except httpx.HTTPError as exc:
        _raise_if_untrusted(url, exc)


@dataclass
class ShareSample:
    """What answered `count` requests through the LB, each as a new client (its own canary cookie)."""

    url: str
    colours: Counter = field(default_factory=Counter)  # colour header value (None: no header) -> answers
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every request sent: answered or failed."""
        return sum(self.colours.values()) + len(self.failures)


def sample_shares(url: str, count: int, *, cookie: str, color_header: str, timeout: float = 5.0) -> ShareSample:
    """Ask the LB `count` times, each request with a distinct value of the canary `cookie` (a new client to the
    LB's buckets), on one keep-alive connection; count the colour header of each answer."""
    import uuid

    import httpx

    sample = ShareSample(url)
    with httpx.Client(timeout=timeout) as client:
        for _ in range(count):
            try:
                response = client.get(url, headers={"Cookie": f"{cookie}=ghosttasks-{uuid.uuid4().hex}"})
            except httpx.HTTPError as exc:
                sample.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code >= 500:
                sample.failures.append(f"HTTP {response.status_code}")
                continue
            sample.colours[response.headers.get(color_header)] += 1
    return sample
