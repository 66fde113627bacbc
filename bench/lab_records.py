"""What the lab and ghosttasks recorded, read on this machine for lab_bench.py (the lab's LB is a directory
here): state.json, the history, nginx's reloads in its error log, and each command's run log by kind of remote step."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any


def lb_state_dir() -> Path:
    """The LB's lb.state_dir (state.json, history.jsonl, lock)."""
    from lab.labctl.paths import layout

    return layout().lb_state_dir


def lab_state() -> dict[str, Any]:
    """state.json as the last command wrote it, with `lock`: whether a deploy lock (or freeze) is held."""
    directory = lb_state_dir()
    path = directory / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {"active": None, "colors": {}}
    state["lock"] = (directory / "lock").exists()
    return state


def lab_history() -> list[dict[str, Any]]:
    """Every history entry on the LB (one JSON object per line)."""
    path = lb_state_dir() / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def lb_error_log() -> Path:
    """The LB nginx's error log (lab/templates/nginx.conf.j2): one `signal 1 (SIGHUP)` notice per reload."""
    from lab.labctl.paths import layout

    return layout().lb_dir / "error.log"


def nginx_reloads_since(offset: int) -> int:
    """Reloads nginx logged after a byte offset of its error log."""
    path = lb_error_log()
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        handle.seek(offset)
        return sum(1 for line in handle if b"(SIGHUP) received" in line)


def colour_running(state: dict[str, Any], version: str) -> str | None:
    """The colour whose known-good version is `version`, if any."""
    for colour, info in state.get("colors", {}).items():
        if info.get("version") == version and not info.get("failed_version"):
            return colour
    return None


def other(colour: str) -> str:
    """blue <-> green."""
    return "green" if colour == "blue" else "blue"


def remote_step_kind(event: dict[str, Any]) -> str:
    """What a run-log event (a remote command or an upload) was for."""
    command = event.get("command") or ""
    if event.get("event") == "upload":
        return "upload state.json" if str(event.get("path", "")).endswith("state.json") else "upload LB config"
    rules = (
        ("-s reload", "nginx reload (reload switch: flag + reload)"),
        (" -t -q", "nginx -t"),
        ("end of file ---", "read LB config"),
        ("-active-green", "select colour (flag file)"),
        (".ghosttasks-new", "install LB config (swap)"),
        ("sudo ok", "access preflight (sudo, docker)"),
        ("docker ok", "access preflight (sudo, docker)"),
        ("alembic_version", "read database revision"),
        ("history.jsonl", "history"),
        ("if grep -qF", "lock release"),
        ("/lock && mkdir", "freeze deploys (lock)"),
        ("if mkdir", "lock take"),
        ("/lock", "lock (other)"),
    )
    for needle, kind in rules:
        if needle in command:
            return kind
    if "state.json" in command and command.startswith("cat"):
        return "read state"
    if re.fullmatch(r"mkdir -p \S+", command):
        return "mkdir state dir (save state)"
    return "other remote"


def where_the_time_goes(log_dir: Path) -> dict[str, float]:
    """Seconds per kind of remote step of one command (its run log: every command and upload with its duration)."""
    kinds: Counter = Counter()
    for path in log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event.get("event") in ("command", "upload"):
                kinds[remote_step_kind(event)] += event.get("duration", 0)
    return {kind: round(seconds, 4) for kind, seconds in sorted(kinds.items())}
