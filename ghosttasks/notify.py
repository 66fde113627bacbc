"""Notifications and incidents through the inventory's webhooks (httpx, retried with tenacity).

Sending never raises and never blocks a rollback for long: failures are reported and returned.
"""

from __future__ import annotations

from typing import Any

from ghosttasks.run import Run

ATTEMPTS = 3


def post(url: str, payload: dict[str, Any], *, timeout: float) -> str | None:
    """POST JSON; None on success, else the last error."""
    import httpx
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=1),
            retry=retry_if_exception_type(httpx.HTTPError),
            reraise=True,
        ):
            with attempt:
                httpx.post(url, json=payload, timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def send(run: Run, kind: str, payload: dict[str, Any], *, incident: bool = False) -> bool:
    """Send one event (`deploy.succeeded`, `rollback.automatic`, ...) to the webhook or incident URL."""
    settings = run.env.notify
    url = settings.incident_url if incident else settings.webhook_url
    if not url:
        return False
    body = {"event": kind, "environment": run.env.name, **run.identity(), **payload}
    description = f"POST {url} {kind}"
    error = run.executor.probe(description, lambda: post(url, body, timeout=settings.timeout_seconds), assume=None)
    if error:
        run.out.warn(f"could not send {kind} to {url}: {error}")
        return False
    return True
