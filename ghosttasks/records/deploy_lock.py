"""The deploy lock: one run at a time per environment, and the emergency freeze.

A directory made with mkdir in the state dir (atomic on every POSIX filesystem); lock/info.json
names the holder. A frozen lock (emergency rollback) is lifted only by `inv deploy.unlock --force`.

Every run leaves a history line, even one that never got the lock: a refusal is recorded ("refused"),
so is a release by hand ("unlocked"), and a run that died holding the lock (SIGKILL, a closed
terminal) is recorded once ("died", "ended without a record") by the first run that finds its lock
and can tell it is gone, or by the unlock that removes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ghosttasks.commands import lock_dir
from ghosttasks.domain.audit import HistoryEntry, LockHolder, known
from ghosttasks.domain.errors import DeployLocked, GhostError, OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.records.history import History
from ghosttasks.records.state_store import StateLocation

#: Tasks whose lock is meant to outlive their process: deploy.lock holds deploys until deploy.unlock.
HOLDING_TASKS = frozenset({"deploy.lock"})
#: How many of the last history lines are searched for a run's own line.
RECENT_HISTORY = 500
DIED_ERROR = "ended without a record"


class DeployLock:
    """Takes, inspects and releases the deploy lock through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.location = StateLocation.of(run.env)
        self.host = self.location.host

    def _info(self, *, version: str | None, reason: str, frozen: bool = False) -> str:
        return LockHolder(
            **self.run.identity(),
            task=self.run.task,
            version=version,
            reason=reason,
            since=self.run.now(),
            since_epoch=0 if self.run.dry_run else int(time.time()),
            frozen=frozen,
        ).to_json()

    def acquire(self, *, version: str | None, reason: str) -> None:
        """Take the lock or raise DeployLocked (exit 3) naming the holder and how to release it.

        The refusal is recorded in the history; the lock is left as it is. When its holder certainly
        died (holder_is_dead), the refusal says so and that run's own line is recorded first, once.
        """
        info = self._info(version=version, reason=reason)
        result = self.run.executor.run(self.host, lock_dir.acquire(self.location.directory, info), check=False)
        if result.ok:
            return
        if result.exit_code == 2:
            directory, login = self.location.directory, self.host.user or self.run.env.ssh.user or "$USER"
            raise OperationFailed(
                f"could not take the deploy lock: {result.describe()}",
                hint=f"the SSH user must own the state dir; once, on {self.host.name}: "
                f"sudo install -d -o {login} -m 0755 {directory}",
            )
        if result.exit_code != 1:
            raise OperationFailed(f"could not take the deploy lock: {result.describe()}")
        holder, now, env_name = LockHolder.parse(result.stdout), time.time(), self.run.env.name
        if holder_is_dead(holder, origin=self.run.origin):
            message, hint = describe_dead_holder(holder, env_name, now)
            refusal = DeployLocked(message, hint=hint, holder=holder)
            self.record_if_unrecorded(holder, now)
        else:
            refusal = DeployLocked(describe_holder(holder, env_name, now), holder=holder)
        self.record(refused_entry(self._entry(version=version, reason=reason), holder, str(refusal)))
        raise refusal

    # -- history: every run leaves a line ---------------------------------------------------------------
    def _entry(self, *, version: str | None, reason: str | None) -> HistoryEntry:
        """The fields every history line of this run starts with."""
        now = self.run.now()
        return HistoryEntry(
            **self.run.identity(),
            task=self.run.task,
            environment=self.run.env.name,
            version=version,
            reason=reason,
            start=now,
            end=now,
            seconds=0,
        )

    def record(self, entry: HistoryEntry) -> None:
        """Append a history line, best effort: a history that cannot be written never hides the real outcome."""
        try:
            History(self.run).append(entry)
        except (GhostError, OSError) as exc:
            self.run.out.warn(f"could not write the history entry on {self.host.name}: {exc}")

    def record_if_unrecorded(self, holder: LockHolder, now: float) -> None:
        """Record the holder's run as died, unless the recent history has a line of that run already."""
        run_id = holder.run_id
        if not run_id:
            return
        try:
            recent = History(self.run).last(RECENT_HISTORY)
        except (GhostError, OSError) as exc:
            self.run.out.warn(f"could not read the history on {self.host.name}: {exc}")
            return
        if not any(entry.run_id == run_id for entry in recent):
            self.record(dead_run_entry(holder, self.run.env.name, now=now, noticed_by=self.run.run_id))

    def record_hold(self, reason: str) -> None:
        """deploy.lock took the lock to hold deploys."""
        entry = self._entry(version=None, reason=reason)
        entry.result = "locked"
        self.record(entry)

    def record_unlock(self, holder: LockHolder, *, forced: bool) -> None:
        """deploy.unlock removed `holder`'s lock; a run that left no line of its own gets one first."""
        if not outlives_its_run(holder) and not running_here(holder, origin=self.run.origin):
            self.record_if_unrecorded(holder, time.time())
        self.record(unlocked_entry(self._entry(version=holder.version, reason=None), holder, forced=forced))

    def freeze(self, *, reason: str) -> None:
        """Replace any lock with a frozen one (emergency): deploys stay refused until deploy.unlock."""
        info = self._info(version=None, reason=reason, frozen=True)
        command = lock_dir.force_acquire(self.location.directory, info)
        self.run.executor.run(self.host, command, what="freeze deploys")

    def holder(self) -> LockHolder | None:
        """Who holds the lock (None when it is free)."""
        fact = lock_dir.holder(self.location.directory).then(lambda text: LockHolder.parse(text) if text else None)
        return self.run.executor.read(self.host, fact)

    def still_held(self) -> bool:
        """This run still holds the lock (an emergency freeze may have replaced it)."""
        if self.run.dry_run:  # a plan only pretends to take the lock: there is no holder to read back
            return True
        holder = self.holder()
        return holder is not None and holder.run_id == self.run.run_id

    def release(self) -> None:
        """Remove the lock if this run holds it."""
        run_id = self.run.identity()["run_id"]
        command = lock_dir.release(self.location.directory, run_id)
        self.run.executor.run(self.host, command, what="release the deploy lock")

    def force_release(self) -> None:
        """Remove the lock whoever holds it (deploy.unlock --force)."""
        command = lock_dir.force_release(self.location.directory)
        self.run.executor.run(self.host, command, what="remove the deploy lock")


def pid_alive(pid: int) -> bool:
    """A process with this id exists on this machine (one of another user counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def outlives_its_run(holder: LockHolder) -> bool:
    """A lock meant to stay after its process ended: an emergency freeze or a deploy.lock hold."""
    return bool(holder.frozen) or holder.task in HOLDING_TASKS


def _pid(holder: LockHolder) -> int | None:
    pid = holder.pid
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def holder_is_dead(holder: LockHolder, *, origin: str, alive: Callable[[int], bool] = pid_alive) -> bool:
    """The run holding the lock is certainly gone: it took the lock from this machine (same origin),
    its process no longer exists here, and its lock was not meant to outlive it (a hold, a freeze).

    A holder from another machine, or without a usable pid, is never judged dead.
    """
    pid = _pid(holder)
    if pid is None or holder.origin != origin or outlives_its_run(holder):
        return False
    return not alive(pid)


def running_here(holder: LockHolder, *, origin: str, alive: Callable[[int], bool] = pid_alive) -> bool:
    """The holder's process still runs on this machine (so it may yet write its own history line)."""
    pid = _pid(holder)
    return pid is not None and holder.origin == origin and alive(pid)


def age_seconds(holder: LockHolder, now: float) -> int | None:
    epoch = holder.since_epoch
    if not isinstance(epoch, int) or epoch <= 0:
        return None
    return max(0, int(now) - epoch)


def dead_run_entry(holder: LockHolder, env_name: str, *, now: float, noticed_by: str) -> HistoryEntry:
    """The history line of a run that died holding the lock and wrote none: result "died"."""
    return HistoryEntry(
        run_id=holder.run_id,
        user=holder.user,
        origin=holder.origin,
        pid=holder.pid,
        command=holder.command,
        task=holder.task,
        environment=env_name,
        version=holder.version,
        reason=holder.reason,
        start=holder.since,
        end=None,
        seconds=None,
        result="died",
        error=DIED_ERROR,
        holder=holder.who,
        age_seconds=age_seconds(holder, now),
        noticed_by=noticed_by,
    )


def refused_entry(entry: HistoryEntry, holder: LockHolder, error: str) -> HistoryEntry:
    """`entry` made the history line of a run refused because `holder` has the lock."""
    entry.result, entry.error, entry.holder = "refused", error, holder.summary()
    return entry


def unlocked_entry(entry: HistoryEntry, holder: LockHolder, *, forced: bool) -> HistoryEntry:
    """`entry` made the history line of deploy.unlock: whose lock it removed, and whether by --force."""
    entry.result, entry.forced, entry.holder = "unlocked", forced, holder.summary()
    return entry


def describe_dead_holder(holder: LockHolder, env_name: str, now: float) -> tuple[str, str]:
    """The refusal and its hint when the holder died: the run is gone, and how to release its lock."""
    what = f"{known(holder.task)} {holder.version or ''}".strip()
    message = (
        f"{env_name} is locked by run {known(holder.run_id)} ({what} by {holder.who}, "
        f"since {known(holder.since)}{_age(holder.since_epoch, now)}), which is gone: "
        f"its process {holder.pid} no longer exists on {holder.origin}"
    )
    hint = (
        f"the run ended without releasing the lock (killed?); release it: inv deploy.unlock --env {env_name} --force, "
        f"then check what it left: inv deploy.status --env {env_name}"
    )
    return message, hint


def is_mine(holder: LockHolder, *, user: str, origin: str) -> bool:
    """A lock this user took from this machine (never an emergency freeze), so plain unlock may lift it."""
    return holder.user == user and holder.origin == origin and not holder.frozen


def describe_holder(holder: LockHolder, env_name: str, now: float) -> str:
    """The one-line refusal: who holds the lock, since when, why, and how to release it."""
    if holder.frozen:
        what = f"deploys to {env_name} are frozen (emergency rollback)"
    else:
        what = f"{env_name} is locked by another deploy"
    return (
        f"{what}: {known(holder.task)} {holder.version or ''} by {holder.who}, run {known(holder.run_id)}, "
        f"since {known(holder.since)}{_age(holder.since_epoch, now)}, reason: {known(holder.reason)}. "
        f"If that run is gone: inv deploy.unlock --env {env_name} --force"
    ).replace("  ", " ")


def _age(epoch: Any, now: float) -> str:
    if not isinstance(epoch, int) or epoch <= 0:
        return ""
    seconds = max(0, int(now) - epoch)
    return f" ({seconds // 60} min {seconds % 60} s ago)"
