"""PURE command builders (each returns a shell string, quoted with shlex), rendering, and what a dry run assumes.

Import only ghosttasks.domain and ghosttasks.config; no I/O.
"""

from __future__ import annotations

import shlex


def qpath(path: str) -> str:
    """Quote a path for the remote shell, keeping a leading ~/ meaning the login user's home."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def join(argv: list[str] | tuple[str, ...]) -> str:
    """Quote an argv for the remote shell."""
    return shlex.join(argv)
