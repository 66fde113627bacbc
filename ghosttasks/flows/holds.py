"""Holding deploys by hand (runbook "stop deployments"): deploy.lock and deploy.unlock.

Both leave a history line: "locked" (or "refused", from DeployLock.acquire) and "unlocked".
"""

from __future__ import annotations

from ghosttasks.domain.errors import DeployLocked, GhostError
from ghosttasks.execution.run import Run
from ghosttasks.records.deploy_lock import DeployLock, is_mine
from ghosttasks.records.state_store import Store


def hold(run: Run, reason: str) -> None:
    """Take the deploy lock and keep it (refused with exit 3 when someone holds it)."""
    lock = DeployLock(run)
    lock.acquire(version=None, reason=reason)
    lock.record_hold(reason)
    run.out.ok(f"{run.env.name} locked by {run.user}: {reason} (release: inv deploy.unlock --env {run.env.name})")


def unlock(run: Run, *, force: bool) -> None:
    """Release the lock: your own, or with force anyone's (including an emergency freeze).

    The history records the release and whose lock it was; a run that died holding it and left no
    line of its own gets its "died" line first.
    """
    lock = DeployLock(run)
    holder = lock.holder()
    if holder is None:
        run.out.ok(f"{run.env.name} is not locked")
        return
    if not (force or is_mine(holder, user=run.user, origin=run.origin)):
        raise DeployLocked(
            f"the lock is held by {holder.user}@{holder.origin} ({holder.reason}); use --force to release it anyway"
        )
    lock.force_release()
    lock.record_unlock(holder, forced=force)
    run.out.ok(f"{run.env.name} unlocked (was: {holder.reason})")
    try:
        intent = Store(run).load().intent
    except GhostError as exc:  # unlocked all the same; the next changing command reads the record again
        run.out.warn(f"could not read the deploy state after unlocking: {exc}")
        return
    if intent is not None:
        run.out.warn(
            f"that run left a change unfinished ({intent.describe()}): the next deploy, rollback or switch checks it "
            f"against the LB and the containers first; to do it now: inv deploy.recover --env {run.env.name}"
        )
