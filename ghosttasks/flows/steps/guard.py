"""Every changing procedure runs guarded: lock taken first, history written and lock released at the end,
whatever happened (success, failure, Ctrl-C or SIGTERM, a SystemExit or any other BaseException)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.errors import GhostError
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import marking
from ghosttasks.observability import notify
from ghosttasks.records.deploy_lock import DeployLock
from ghosttasks.records.history import History
from ghosttasks.records.state_store import Store


@contextmanager
def guarded(run: Run, store: Store, *, version: str | None, reason: str, lock: bool = True) -> Iterator[HistoryEntry]:
    """Yield the history entry (flows set its fields); record it and release the lock on the way out."""
    entry = HistoryEntry(**run.identity(), task=run.task, environment=run.env.name, version=version, start=run.now())
    run.outcome = entry  # the closing summary reads it (ghosttasks.terminal.summary)
    deploy_lock = DeployLock(run)
    if lock:
        run.executor.section("take the deploy lock")
        deploy_lock.acquire(version=version, reason=reason)
    started = time.monotonic()
    try:
        yield entry
        entry.result = entry.result or "ok"
    except KeyboardInterrupt:
        entry.result = "interrupted"
        entry.error = "interrupted (Ctrl-C or SIGTERM)"
        raise
    except GhostError as exc:
        entry.result = entry.result or "failed"
        entry.error = str(exc)
        if run.failed_step:
            exc.in_step(run.failed_step)
        raise
    except Exception as exc:
        entry.result = entry.result or "failed"
        entry.error = f"{type(exc).__name__}: {exc}"
        raise
    except BaseException as exc:  # SystemExit (a library exiting) or anything else that is no Exception
        entry.result = "aborted"
        entry.error = f"aborted by {exc!r}"
        raise
    finally:
        entry.end = run.now()
        entry.seconds = 0 if run.dry_run else round(time.monotonic() - started, 3)
        entry.failed_step = run.failed_step
        entry.steps = [] if run.dry_run else list(run.steps)
        _finish(run, store, deploy_lock if lock else None, entry)


def _finish(run: Run, store: Store, deploy_lock: DeployLock | None, entry: HistoryEntry) -> None:
    """Best effort and never masking the original error: history, lock release, deploy marker, notification."""
    run.executor.section("record history, release the lock, notify")
    entry.result = entry.result or "aborted"  # every ending is recorded with a result
    try:
        History(run).append(entry)
    except (GhostError, OSError) as exc:
        run.out.warn(f"could not write the history entry on {store.host.name}: {exc}")
    if deploy_lock is not None:
        try:
            deploy_lock.release()
        except (GhostError, OSError) as exc:
            run.out.warn(
                f"could not release the deploy lock on {store.host.name} ({exc}); once it is reachable: "
                f"inv deploy.unlock --env {run.env.name} --force"
            )
    publishing = run.executor.start(lambda: marking.publish_finished(run, entry))  # at once with the notification
    details = {
        "version": entry.version,
        "result": entry.result,
        "error": entry.error,
        "failed_step": entry.failed_step,
        "color": entry.color,
    }
    notify.send(run, f"{run.task}.{entry.result}", details)
    publishing.result()
