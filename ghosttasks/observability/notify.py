"""Notifications and incidents through the inventory's webhooks (httpx, retried with tenacity).

Sending never raises and never blocks a rollback for long: failures are reported and returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ghosttasks.execution.run import Run

ATTEMPTS = 3


@dataclass(frozen=True)
class Delivery:
    """What one notification got: its receiver (None when no URL is configured) and the answer."""

    url: str | None
    status: int | None = None  # the last HTTP status, when there was an answer
    error: str | None = None  # why it was not delivered

    @property
    def ok(self) -> bool:
        return self.url is not None and self.error is None

    @property
    def receiver(self) -> str:
        return redact_url(self.url) if self.url else "nobody"

    @property
    def answer(self) -> str:
        if self.url is None:
            return "not configured"
        return self.error or f"HTTP {self.status}"


def redact_url(url: str) -> str:
    """A webhook URL fit to print: scheme, host and first path segment; the rest (often a token) hidden.

    https://hooks.slack.com/services/T0/B0/XXXX -> https://hooks.slack.com/services/…
    """
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    shown = f"{parts.scheme}://{host}" + (f"/{segments[0]}" if segments else "")
    hidden = len(segments) > 1 or parts.query or parts.fragment or parts.username or parts.password
    return shown + ("/…" if hidden else "")


def post(url: str, payload: dict[str, Any], *, timeout: float) -> Delivery:
    """POST JSON, retried on errors; the answer (HTTP status) or the last error."""
    import httpx
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    response = None
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=1),
            retry=retry_if_exception_type(httpx.HTTPError),
            reraise=True,
        ):
            with attempt:
                response = httpx.post(url, json=payload, timeout=timeout)
                response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        answer = exc.response
        return Delivery(url, answer.status_code, f"HTTP {answer.status_code} {answer.reason_phrase}".rstrip())
    except httpx.HTTPError as exc:
        return Delivery(url, None, f"{type(exc).__name__}: {exc or 'no detail'}")
    return Delivery(url, response.status_code if response is not None else None)


def deliver(run: Run, kind: str, payload: dict[str, Any], *, incident: bool = False) -> Delivery:
    """Send one event to the webhook (or the incident URL); what it got, printed by the caller."""
    settings = run.env.notify
    url = settings.incident_url if incident else settings.webhook_url
    if not url:
        return Delivery(None)
    body = {"event": kind, "environment": run.env.name, **run.identity(), **payload}
    description = f"POST {url} direct {kind}"  # webhooks are external: never through SSH
    return run.executor.probe(
        description, lambda: post(url, body, timeout=settings.timeout_seconds), assume=Delivery(url, 200)
    )


def send(run: Run, kind: str, payload: dict[str, Any], *, incident: bool = False) -> bool:
    """Send one event (`deploy.succeeded`, `rollback.automatic`, ...); a failure is warned about."""
    delivery = deliver(run, kind, payload, incident=incident)
    if delivery.url and not delivery.ok:
        run.out.warn(f"could not send {kind} to {delivery.receiver}: {delivery.answer}")
    return delivery.ok
