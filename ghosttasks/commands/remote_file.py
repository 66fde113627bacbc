"""Generic remote file builders: read a file, append a line, tail the last lines."""

from __future__ import annotations

import shlex

from ghosttasks.commands import qpath


def read_file(path: str) -> str:
    """Print a file, or nothing when it does not exist."""
    return f"cat {qpath(path)} 2>/dev/null || true"


def append_line(path: str, line: str) -> str:
    """Append one line to a file, creating its directory when needed."""
    directory = path.rsplit("/", 1)[0]
    return f"mkdir -p {qpath(directory)} && printf '%s\\n' {shlex.quote(line)} >> {qpath(path)}"


def tail_lines(path: str, count: int) -> str:
    """The last `count` lines of a file (nothing when it does not exist)."""
    return f"tail -n {int(count)} {qpath(path)} 2>/dev/null || true"


def durable_rename(temporary: str, path: str) -> str:
    """Move an uploaded file into place for good: fsync it, rename it over `path`, fsync the directory
    (coreutils `sync FILE`), so neither a killed run nor a host crash leaves half a document."""
    directory = path.rsplit("/", 1)[0] or "/"
    return f"sync -- {qpath(temporary)} && mv -f -- {qpath(temporary)} {qpath(path)} && sync -- {qpath(directory)}"
