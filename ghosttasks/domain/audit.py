"""PURE the audit records: a run's history line (HistoryEntry) with its timed steps (StepRecord), and the deploy
lock's holder (LockHolder, lock/info.json). Each has one serialisation and one parse.

Like the JSON objects they are, the records write the fields that were given or set, None included, and leave
out the ones nobody set: a refused run's line has no steps, a run's own line no holder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from ghosttasks.domain.colors import Color

#: Every record field's default: never set, so left out of the JSON (a None given or set is written as null).
UNSET: Any = object()
UNREADABLE_LOCK = "unreadable lock file"
#: The holder's fields a history line repeats when it names whose lock it was.
HOLDER_SUMMARY = ("run_id", "user", "origin", "pid", "task", "version", "reason", "since", "frozen")


class _Sparse:
    """Remembers which fields were given or set: those, and only those, are written."""

    def __setattr__(self, name: str, value: Any) -> None:
        given = self.__dict__.setdefault("_given", set())
        if value is UNSET:
            value = None
        else:
            given.add(name)
        object.__setattr__(self, name, value)

    def given(self) -> dict[str, Any]:
        """The fields given or set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in self._given}

    @classmethod
    def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The fields of `data` this record has (a key it does not know is dropped)."""
        return {f.name: data[f.name] for f in fields(cls) if f.name in data}


@dataclass
class StepRecord:
    """One timed step of a run: its name, its duration and whether it succeeded."""

    name: str
    seconds: float
    ok: bool


@dataclass(kw_only=True)
class _ByRun(_Sparse):
    """The fields that name a run, in a history line and in the lock it holds: who, from where (Run.identity),
    which task, for which version and why."""

    run_id: str | None = UNSET
    user: str | None = UNSET
    origin: str | None = UNSET
    pid: int | None = UNSET
    command: str | None = UNSET
    task: str | None = UNSET
    version: str | None = UNSET
    reason: str | None = UNSET


@dataclass(kw_only=True)
class LockHolder(_ByRun):
    """Who holds the deploy lock, as lock/info.json says; an unreadable file gives only `reason` and `raw`."""

    since: str | None = UNSET
    since_epoch: int | None = UNSET
    frozen: bool | None = UNSET
    raw: str | None = UNSET  # the start of an unreadable lock file

    def to_dict(self) -> dict[str, Any]:
        return self.given()

    def to_json(self) -> str:
        """lock/info.json's text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockHolder:
        return cls(**cls._known(data))

    @classmethod
    def parse(cls, text: str) -> LockHolder:
        """lock/info.json's text; one that is no JSON object is described as such, never an error."""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls(reason=UNREADABLE_LOCK, raw=text.strip()[:200])
        return cls.from_dict(data)

    def summary(self) -> LockHolder:
        """The fields a history line records of the holder (those the lock file had)."""
        given = self.given()
        return LockHolder(**{name: given[name] for name in HOLDER_SUMMARY if name in given})

    @property
    def who(self) -> str:
        """user@origin, `?` for what the lock file does not say."""
        return f"{known(self.user)}@{known(self.origin)}"


@dataclass(kw_only=True)
class HistoryEntry(_ByRun):
    """One line of history.jsonl: who ran what (_ByRun), how it ended, and what it changed."""

    # where, and how it ended
    environment: str | None = UNSET
    start: str | None = UNSET
    end: str | None = UNSET
    seconds: float | None = UNSET
    result: str | None = UNSET
    error: str | None = UNSET
    failed_step: str | None = UNSET
    steps: list[StepRecord] | None = UNSET
    # what changed
    color: Color | None = UNSET
    previous_color: Color | None = UNSET
    previous_version: str | None = UNSET
    backup: str | None = UNSET
    alembic_head: str | None = UNSET
    alembic_revision: str | None = UNSET
    images: dict[str, str] | None = UNSET
    removed: dict[str, list[str]] | None = UNSET
    migration_lint: str | None = UNSET
    allow_breaking_migration: bool | None = UNSET
    state_repaired: list[str] | None = UNSET
    trigger: str | None = UNSET
    unevaluated: list[str] | None = UNSET  # checks and triggers that could not be judged, each with why
    warning: str | None = UNSET
    alerted: bool | None = UNSET
    workers: list[str] | None = UNSET  # which colour's workers docker showed on each app host after the handover
    queue: str | None = UNSET  # the queue depth before and after (app.queue_keys)
    incident: bool | None = UNSET
    # the lock's lines: whose lock a run was refused or removed ("user@origin" in a died line), and how
    holder: LockHolder | str | None = UNSET
    forced: bool | None = UNSET
    age_seconds: int | None = UNSET
    noticed_by: str | None = UNSET
    line: int | None = UNSET  # an unreadable line: its number in the file

    def to_dict(self) -> dict[str, Any]:
        data = self.given()
        if self.steps is not None:
            data["steps"] = [asdict(step) for step in self.steps]
        if isinstance(self.holder, LockHolder):
            data["holder"] = self.holder.to_dict()
        return data

    def to_json(self) -> str:
        """The history.jsonl line (without its newline)."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        """An entry from a line's JSON object; TypeError or KeyError when its steps or holder are malformed."""
        found = cls._known(data)
        if found.get("steps") is not None:
            found["steps"] = [StepRecord(step["name"], step["seconds"], step["ok"]) for step in found["steps"]]
        if isinstance(found.get("holder"), dict):
            found["holder"] = LockHolder.from_dict(found["holder"])
        return cls(**found)

    @classmethod
    def parse(cls, line: str, number: int) -> HistoryEntry:
        """Line `number` of history.jsonl; one that is no entry becomes `result: unreadable` with its number."""
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                return cls.from_dict(data)
        except (ValueError, TypeError, KeyError):
            pass
        return cls(result="unreadable", line=number)


def known(value: Any) -> str:
    """A value a record may not have, as text: `?` when it is missing."""
    return "?" if value is None else str(value)
