"""The `inv` command line: Invoke's Program, with exit code 2 (not 1) for bad input on the command line.

Invoke's Program.run exits 1 on a ParseError (an unknown flag, a flag without its value, a missing
positional argument, an unknown task): the code is fixed in Program.run, with no setting or hook to
change it. Our contract (README: exit codes) is 2 for bad input. Program is documented as made to be
subclassed ("Reusing Invoke's CLI module as a distinct binary"), its parse steps being the documented
override points, so GhostProgram overrides the two steps that parse the task part of the command line
and turns their ParseError into Exit(code=2) with our one-line error and a hint.

`inv` is Invoke's own Program: it imports tasks.py (our namespace) while it runs, after it has parsed
its core flags and before it parses the tasks' flags. tasks.py therefore makes that running program a
GhostProgram (adopt()); nothing else of Invoke is changed. `ghost` (ghosttasks.main) is a GhostProgram
of its own, with the namespace bundled, the way Fabric ships `fab`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from invoke import Exit, ParseError, Program

from ghosttasks.domain.errors import BadInput


class GhostProgram(Program):
    """Invoke's Program with bad input on the command line exiting 2 (BadInput's code), not 1."""

    #: The command the hints tell users to type (`inv --help deploy.prod`).
    command = "inv"

    def parse_tasks(self) -> None:
        with _bad_input(self.command):
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with _bad_input(self.command):
            super().parse_cleanup()


@contextmanager
def _bad_input(command: str) -> Iterator[None]:
    try:
        yield
    except ParseError as exc:
        raise Exit(describe_parse_error(exc, command), code=BadInput.exit_code) from None


def describe_parse_error(exc: ParseError, command: str) -> str:
    """Invoke's parse error as our two lines: `error: ...` and a `next:` hint (the task's help or the list)."""
    from ghosttasks.domain.masking import mask

    task = getattr(exc.context, "name", None)
    message = str(exc)
    unknown = re.fullmatch(r"No idea what '(.*)' is!", message)
    if unknown and unknown.group(1).startswith("-") and task:
        message = f"{task} has no option {unknown.group(1)}"
    elif unknown:
        message, task = f"no task named {unknown.group(1)!r}", None
    needs_value = re.fullmatch(r"Flag <Argument: ([\w-]+).*> needed value and was not given one!", message)
    if needs_value:
        message = f"--{needs_value.group(1).replace('_', '-')} needs a value"
    hint = f"see its options: {command} --help {task}" if task else f"see the tasks: {command} --list"
    return mask(f"error: {message}\nnext: {hint}")


def adopt(program: Program) -> None:
    """Make a running plain Program (Invoke's own `inv`) a GhostProgram; any other program is left alone."""
    if type(program) is Program:
        program.__class__ = GhostProgram
