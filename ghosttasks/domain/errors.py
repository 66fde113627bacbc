"""The errors ghosttasks raises, each mapped to the exit code users rely on.

0 ok, 1 operation failed, 2 bad input or config, 3 deploy locked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the tasks import these errors to be listed; the audit model loads when a run records
    from ghosttasks.domain.audit import LockHolder


class GhostError(Exception):
    """Base class: a one-line message for the user and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.step: str | None = None  # the failing step, once the message names it (in_step)

    def in_step(self, step: str) -> None:
        """Name the step it failed in at the front of the message, once."""
        if self.step is None:
            self.step = step
            self.args = (f"step '{step}' failed: {self}", *self.args[1:])


class OperationFailed(GhostError):
    """A step of a procedure failed; the message says which and what to do next."""

    exit_code = 1


class BadInput(GhostError):
    """An argument failed validation before anything was planned or run."""

    exit_code = 2


class ConfigError(GhostError):
    """The inventory (hosts.yml) is missing or invalid."""

    exit_code = 2


class DeployLocked(GhostError):
    """Another run holds the deploy lock (or deploys are frozen); `holder` is lock/info.json's when read."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, holder: LockHolder | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


class CommandFailed(OperationFailed):
    """A command exited non-zero (or timed out) on one or more hosts."""

    def __init__(self, message: str, *, results: list | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.results = results or []
