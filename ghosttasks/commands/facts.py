"""PURE one remote read as one value: its command, its parser and what a dry run assumes it printed.

`Executor.read` runs a Fact and parses its answer; the plan recorder answers it from `assumed`, so a dry
run takes the same decisions from a neutral example (ghosttasks.commands.assumptions) and says nothing
else. The fact constructors live beside their command builders (nginx.lb_flag, postgres.revision, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Answer(Protocol):
    """What a command returned, as a parser sees it (ghosttasks.execution.executor.Result)."""

    host: str
    stdout: str
    stderr: str
    exit_code: int
    hint: str | None

    @property
    def ok(self) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One remote read: what it reads, the command, its parser, the raw answer a dry run assumes.

    check: a non-zero exit is an error (CommandFailed) before parsing; else the parser judges it.
    stream: its output is shown as it comes. note: what the dry-run plan says about the assumption.
    """

    what: str
    command: str
    parse: Callable[[Answer], T]
    assumed: str
    check: bool = True
    stream: bool = False
    note: str = ""

    def then(self, refine: Callable[[T], U]) -> Fact[U]:
        """The same read, its parsed value refined by a higher layer (a judge, a typed record)."""
        parse = self.parse
        return replace(self, parse=lambda answer: refine(parse(answer)))  # type: ignore[return-value,arg-type]


@dataclass(frozen=True)
class Unread:
    """A read that failed where a failure is part of the answer (one host among many): why, and the fix."""

    reason: str
    hint: str | None = None


def stdout(answer: Answer) -> str:
    """The answer's standard output, as printed."""
    return answer.stdout


def output_or_unread(answer: Answer) -> str | Unread:
    """The output of a command that succeeded and printed something; else why it did not."""
    if answer.ok and answer.stdout.strip():
        return answer.stdout
    return Unread(answer.stderr.strip() if answer.exit_code == 255 else answer.describe(), answer.hint)
