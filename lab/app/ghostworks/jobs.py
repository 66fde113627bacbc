"""The job queue in Redis: what a job is, the keys, and the reliable hand-off between api, worker and scheduler.

A job is JSON `{"id", "seconds", "kind"}`: `id` is the client's (or the scheduler's period), `seconds` how long
its work takes. The api LPUSHes it onto QUEUE. A worker BLMOVEs it from the queue's other end onto its host's
processing list (nothing is ever only in a worker's memory), does the work, records the id in PostgreSQL (table
`jobs`, UNIQUE job_id), and only then removes it from the processing list: the acknowledgement. A worker killed
mid-job leaves it on the processing list; the next worker started on that host moves it back to the queue
(`recover`), so it runs again and is recorded once. One processing list per host: at most one worker runs per
host at a time (its colour's), so the one starting there owns what the last one left.
"""

from __future__ import annotations

import json
import re

QUEUE = "ghostworks:jobs"
PROCESSING = "ghostworks:jobs:processing:"  # + the worker's host address
DUPLICATES = "ghostworks:jobs:duplicates"  # how many jobs the UNIQUE constraint rejected (counted, logged)
SCHEDULE = "ghostworks:schedule:"  # + the period: set once, by the one scheduler that enqueues it
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", re.ASCII)
MAX_SECONDS = 300


def job_input(body: object) -> dict | str:
    """A job from a request body `{"id"[, "seconds"]}`, or the error message."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    job_id = body.get("id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return "id must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
    seconds = body.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS:
        return f"seconds must be a number from 0 to {MAX_SECONDS}"
    return {"id": job_id, "seconds": seconds, "kind": "api"}


def encode(job: dict) -> bytes:
    """The queue's form of a job (sorted keys: the same job is the same bytes, which LREM relies on)."""
    return json.dumps(job, sort_keys=True).encode()


def decode(raw: bytes) -> dict | None:
    """A job read from the queue, or None when it is not one (it is dropped, and said)."""
    try:
        job = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str):
        return None
    seconds = job.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS:
        return None
    return job


def processing(host: str) -> str:
    """The processing list of the worker on `host`."""
    return PROCESSING + host


def scheduled(period: int) -> dict:
    """The scheduler's job of one period (its id is the period: enqueued once per period)."""
    return {"id": f"schedule-{period}", "seconds": 0, "kind": "scheduled"}
