"""The Ghostworks scheduler (`python3 -m ghostworks.scheduler`): enqueues one job per period (SCHEDULE_SECONDS).

The period's id is claimed in Redis (SET NX) before the job is enqueued, so a scheduler restarted within a
period does not enqueue it again. Exactly one scheduler should run (ghosttasks' singleton); two would still
enqueue each period once. Exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from . import database, jobs, logs
from .config import settings

TICK_SECONDS = 1


def main() -> None:
    """Enqueue the period's job whenever a new period starts, until SIGTERM or SIGINT."""
    log = logs.setup("scheduler", settings.version, settings.color, settings.log_level)
    period_seconds = max(1, int(os.environ.get("SCHEDULE_SECONDS") or 10))
    stopping = threading.Event()

    def stop(signum, _frame) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    redis = database.get_redis()
    log.info("starting", extra={"period_seconds": period_seconds})
    while not stopping.is_set():
        period = int(time.time() // period_seconds)
        try:
            if redis.set(jobs.SCHEDULE + str(period), settings.color, nx=True, ex=period_seconds * 10):
                redis.lpush(jobs.QUEUE, jobs.encode(jobs.scheduled(period)))
                log.info("enqueued", extra={"job_id": jobs.scheduled(period)["id"]})
        except Exception as exc:  # Redis away: the next tick tries again
            log.error("enqueue failed", extra={"error": str(exc)[:200]})
        stopping.wait(TICK_SECONDS)
    log.info("stopped")


if __name__ == "__main__":
    main()
