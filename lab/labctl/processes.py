"""Processes read from /proc: alive or not (and whose), and every process below one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int, marker: str = "") -> bool:
    """Whether pid runs (not a zombie) and its command line mentions marker (our lab root)."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] in "ZXx":
        _reap(pid)
        return False
    if not marker:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def descendants(root_pid: int) -> list[int]:
    """Every process below root_pid, each after its parent (an sshd's sessions and the commands they run)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found
