"""The command the user types, as the lines they read name it.

Every message names a task the way a checkout runs it: `inv deploy.unlock --force`. The installed `ghost` command
(ghosttasks.main) needs no tasks.py, and there `inv` finds no tasks: while `ghost` runs, the lines it prints, the
closing summary's `next:` and the command line its records keep name `ghost` instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: `inv` where it names a task (`inv traffic.switch`, `inv stack.logs`) or its listing (`inv --list`, `inv --help`)
_TASK_COMMAND = re.compile(r"(?<![\w/.-])inv(?= +(?:[a-z][a-z0-9_-]*\.[a-z][a-z0-9_-]*|--(?:help|list))\b)")

_typed = "inv"


def typed() -> str:
    """The command the running program is typed as: `inv`, or `ghost` while ghosttasks.main runs."""
    return _typed


@contextmanager
def typed_as(command: str) -> Iterator[None]:
    """Within the block, lines name `command` where they name `inv` (the program's run); then as before."""
    global _typed
    before, _typed = _typed, command
    try:
        yield
    finally:
        _typed = before


def as_typed(text: str) -> str:
    """`text` with each `inv <task>` naming the command typed (unchanged while it is `inv`)."""
    return text if _typed == "inv" else _TASK_COMMAND.sub(_typed, text)


def as_typed_data(data: Any) -> Any:
    """as_typed over every string of JSON-shaped data (a report's hints read the same in --json as on screen)."""
    if isinstance(data, str):
        return as_typed(data)
    if isinstance(data, dict):
        return {key: as_typed_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [as_typed_data(value) for value in data]
    return data
