"""The deploy lock: one run at a time per environment, and the emergency freeze.

A directory made with mkdir in the state dir (atomic on every POSIX filesystem); lock/info.json
names the holder. A frozen lock (emergency rollback) is lifted only by `inv deploy.unlock --force`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ghosttasks.commands import lock as lock_commands
from ghosttasks.errors import DeployLocked, OperationFailed
from ghosttasks.run import Run
from ghosttasks.state import StateLocation


class DeployLock:
    """Takes, inspects and releases the deploy lock through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.location = StateLocation.of(run.env)
        self.host = self.location.host

    def _info(self, *, version: str | None, reason: str, frozen: bool = False) -> str:
        info = {
            **self.run.identity(),
            "task": self.run.task,
            "version": version,
            "reason": reason,
            "since": self.run.now(),
            "since_epoch": 0 if self.run.dry_run else int(time.time()),
            "frozen": frozen,
        }
        return json.dumps(info, sort_keys=True)

    def acquire(self, *, version: str | None, reason: str) -> None:
        """Take the lock or raise DeployLocked (exit 3) naming the holder and how to release it."""
        info = self._info(version=version, reason=reason)
        result = self.run.executor.run(self.host, lock_commands.acquire(self.location.directory, info), check=False)
        if result.ok:
            return
        if result.exit_code != 1:
            raise OperationFailed(f"could not take the deploy lock: {result.describe()}")
        raise DeployLocked(describe_holder(parse_holder(result.stdout), self.run.env.name, time.time()))

    def freeze(self, *, reason: str) -> None:
        """Replace any lock with a frozen one (emergency): deploys stay refused until deploy.unlock."""
        info = self._info(version=None, reason=reason, frozen=True)
        command = lock_commands.force_acquire(self.location.directory, info)
        self.run.executor.run(self.host, command, what="freeze deploys")

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (None when it is free)."""
        command = lock_commands.read(self.location.directory)
        text = self.run.executor.run(self.host, command, assume="", what="read the deploy lock").stdout
        return parse_holder(text) if text.strip() else None

    def still_held(self) -> bool:
        """This run still holds the lock (an emergency freeze may have replaced it)."""
        if self.run.dry_run:
            return True
        holder = self.holder()
        return bool(holder) and holder.get("run_id") == self.run.run_id

    def release(self) -> None:
        """Remove the lock if this run holds it."""
        run_id = self.run.identity()["run_id"]
        command = lock_commands.release(self.location.directory, run_id)
        self.run.executor.run(self.host, command, what="release the deploy lock")

    def force_release(self) -> None:
        """Remove the lock whoever holds it (deploy.unlock --force)."""
        command = lock_commands.force_release(self.location.directory)
        self.run.executor.run(self.host, command, what="remove the deploy lock")


def parse_holder(text: str) -> dict[str, Any]:
    """lock/info.json as a dict; an unreadable file is described as such, never an error."""
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):
        return {"reason": "unreadable lock file", "raw": text.strip()[:200]}
    return holder


def is_mine(holder: dict[str, Any], *, user: str, origin: str) -> bool:
    """A lock this user took from this machine (never an emergency freeze), so plain unlock may lift it."""
    return holder.get("user") == user and holder.get("origin") == origin and not holder.get("frozen")


def describe_holder(holder: dict[str, Any], env_name: str, now: float) -> str:
    """The one-line refusal: who holds the lock, since when, why, and how to release it."""
    if holder.get("frozen"):
        what = f"deploys to {env_name} are frozen (emergency rollback)"
    else:
        what = f"{env_name} is locked by another deploy"
    who = f"{holder.get('user', '?')}@{holder.get('origin', '?')}"
    return (
        f"{what}: {holder.get('task', '?')} {holder.get('version') or ''} by {who}, run {holder.get('run_id', '?')}, "
        f"since {holder.get('since', '?')}{_age(holder.get('since_epoch'), now)}, reason: {holder.get('reason', '?')}. "
        f"If that run is gone: inv deploy.unlock --env {env_name} --force"
    ).replace("  ", " ")


def _age(epoch: Any, now: float) -> str:
    if not isinstance(epoch, int) or epoch <= 0:
        return ""
    seconds = max(0, int(now) - epoch)
    return f" ({seconds // 60} min {seconds % 60} s ago)"
