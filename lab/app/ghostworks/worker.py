"""The Ghostworks worker (`python3 -m ghostworks.worker`): takes jobs from the Redis queue and records each once.

On SIGTERM or SIGINT it finishes the job in hand, acknowledges it and exits 0; killed mid-job, the job stays on
its host's processing list and the next worker there runs it again (ghostworks.jobs). A job id recorded already
is a duplicate: the UNIQUE constraint rejects it, the worker logs it and counts it in Redis (DUPLICATES).
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import redis
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from . import database, jobs, logs
from .config import settings

BLOCK_SECONDS = 0.5  # how long one wait for a job blocks: the longest a stop waits when the queue is empty
RETRY_SECONDS = 1
INSERT = text("INSERT INTO jobs (job_id, kind, color, host) VALUES (:job_id, :kind, :color, :host)")


class Worker:
    """One consumer: the queue, its host's processing list, and the stop flag its signal handler sets."""

    def __init__(self, log, host: str, color: str) -> None:
        self.log, self.host, self.color = log, host, color
        self.redis = database.get_redis()
        self.processing = jobs.processing(host)
        self.stopping = threading.Event()

    def stop(self, signum, _frame) -> None:
        self.log.info("stopping: finishing the job in hand", extra={"signal": signal.Signals(signum).name})
        self.stopping.set()

    def recover(self) -> int:
        """Move what a worker killed on this host left on its processing list back to the queue's taking end."""
        moved = 0
        while self.redis.lmove(self.processing, jobs.QUEUE, "RIGHT", "RIGHT") is not None:
            moved += 1
        if moved:
            self.log.warning("redelivering jobs a stopped worker left unfinished", extra={"count": moved})
        return moved

    def run(self) -> None:
        self.recover()
        while not self.stopping.is_set():
            try:
                raw = self.redis.blmove(jobs.QUEUE, self.processing, BLOCK_SECONDS, "RIGHT", "LEFT")
            except redis.RedisError as exc:  # Redis away: nothing was taken; try again
                self.log.error("queue unreachable", extra={"error": str(exc)[:200]})
                self.stopping.wait(RETRY_SECONDS)
                continue
            if raw is not None:
                self.handle(raw)

    def handle(self, raw: bytes) -> None:
        job = jobs.decode(raw)
        if job is None:
            self.log.error("not a job: dropped", extra={"raw": raw[:200].decode(errors="replace")})
            self.redis.lrem(self.processing, 1, raw)
            return
        time.sleep(job["seconds"])  # the work; a stop signal lets it finish
        try:
            with database.get_engine().begin() as connection:
                connection.execute(
                    INSERT,
                    {"job_id": job["id"], "kind": job.get("kind", "api"), "color": self.color, "host": self.host},
                )
        except IntegrityError:
            self.redis.incr(jobs.DUPLICATES)
            self.log.warning("duplicate job rejected", extra={"job_id": job["id"]})
        except SQLAlchemyError as exc:  # the database is not there: the job goes back, nothing is lost
            self.log.error("job not recorded: back to the queue", extra={"job_id": job["id"], "error": str(exc)[:200]})
            self.redis.lmove(self.processing, jobs.QUEUE, "LEFT", "RIGHT")
            self.stopping.wait(RETRY_SECONDS)
            return
        else:
            self.log.info("job done", extra={"job_id": job["id"], "kind": job.get("kind")})
        self.redis.lrem(self.processing, 1, raw)  # the acknowledgement: only after the record


def main() -> None:
    """Consume until SIGTERM or SIGINT."""
    log = logs.setup("worker", settings.version, settings.color, settings.log_level)
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if name in settings.missing_for_api()]
    if missing:
        log.error("missing required environment variables", extra={"missing": missing})
        sys.exit(2)
    worker = Worker(log, settings.bind_addr, settings.color)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    log.info("starting", extra={"queue": jobs.QUEUE, "processing": worker.processing})
    worker.run()
    log.info("stopped")


if __name__ == "__main__":
    main()
