"""PURE one remote read as one value: its command, its parser and what a dry run assumes it printed.

`Executor.read` runs a Fact and parses its answer; the plan recorder answers it from `assumed`, so a dry
run takes the same decisions from a neutral example (ghosttasks.commands.assumptions) and says nothing
else. The fact constructors live beside their command builders (nginx.lb_flag, postgres.revision, ...).
"""

from __future__ import annotations

import shlex
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


#: What together() prints after each part: its standard error follows the first, its exit code ends the second.
PART_STDERR = "--- ghosttasks: part {index} stderr ---"
PART_EXIT = "--- ghosttasks: part {index} exit"


def together(commands: list[str]) -> str:
    """PURE several reads as one shell command (one SSH round trip, one line): the parts run at the same time
    (the host answers in the time of its slowest read), each in its own subshell (an `exit` or `cd` in it stays
    there; standard input /dev/null) with its output, standard error and exit code in files of its own; once all
    ended they are printed in order, between markers, and split_parts() gives each part's (stdout, stderr, exit
    code) back."""
    jobs = " ".join(
        f'{{ ( {command} ) </dev/null >"$d/o{index}" 2>"$d/e{index}"; echo $? >"$d/c{index}"; }} &'
        for index, command in enumerate(commands)
    )
    printed = "; ".join(
        f'cat "$d/o{index}"; printf \'\\n%s\\n\' {shlex.quote(PART_STDERR.format(index=index))}; cat "$d/e{index}"; '
        f'printf \'\\n%s %s ---\\n\' {shlex.quote(PART_EXIT.format(index=index))} "$(cat "$d/c{index}")"'
        for index in range(len(commands))
    )
    return f"d=$(mktemp -d) || exit 1; trap 'rm -rf \"$d\"' EXIT; {jobs} wait; {printed}"


def split_parts(text: str, count: int) -> list[tuple[str, str, int] | None]:
    """PURE each part's (stdout, stderr, exit code) from together()'s output; None for a part whose end was not
    printed (the command was cut short: the caller answers it with the whole command's failure)."""
    parts: list[tuple[str, str, int] | None] = []
    rest = text
    for index in range(count):
        stderr_mark = "\n" + PART_STDERR.format(index=index) + "\n"
        exit_mark = "\n" + PART_EXIT.format(index=index) + " "
        out, found, after = rest.partition(stderr_mark)
        err, found_exit, tail = after.partition(exit_mark) if found else ("", "", "")
        code, newline, rest = tail.partition(" ---\n") if found_exit else ("", "", "")
        if not newline or not code.strip().isdigit():
            parts.extend([None] * (count - index))
            return parts
        parts.append((out, err, int(code)))
    return parts


def printed_together(parts: list[tuple[str, str, int]]) -> str:
    """PURE what together() prints when its parts printed these (stdout, stderr, exit code)."""
    return "".join(
        f"{out}\n{PART_STDERR.format(index=index)}\n{err}\n{PART_EXIT.format(index=index)} {code} ---\n"
        for index, (out, err, code) in enumerate(parts)
    )


def assumed_together(answers: list[str]) -> str:
    """PURE what together() prints when every part printed its assumed answer and succeeded (a dry run)."""
    return printed_together([(answer, "", 0) for answer in answers])
