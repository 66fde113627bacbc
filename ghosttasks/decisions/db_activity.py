"""PURE: what the database is doing, from one JSON document read out of pg_stat_activity and pg_locks.

The document (ghosttasks.commands.postgres.activity) holds `max_connections` and one object per session:
pid, application name, client address, backend type, state, wait event, seconds since its query and its
transaction started, the query text (string literals already replaced in SQL, see `shorten`), the pids that
block it (`pg_blocking_pids`, which reads pg_locks) and the locks it waits for.

Connections are grouped by (application name, client address), the grouping `SELECT count(*) FROM
pg_stat_activity GROUP BY application_name, client_addr` gives, and each group is mapped to a host and a
colour. The host: the client address when it is a host's address in the inventory, else an address the
application name carries after `@` (`ghostworks-blue@10.0.1.11`): on one machine, behind NAT or a proxy every
client has the same address, so an app that names its host's address is mapped anyway. The colour: a colour
named as a word in the application name (the app sets `application_name` per colour). Either mapping says `?`
when it does not apply; nothing is guessed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.domain.colors import COLORS

QUERY_CHARS = 120
LONG_QUERY_SECONDS = 5.0
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_DOLLAR_QUOTED = re.compile(r"\$([A-Za-z_]*)\$.*?\$\1\$", re.S)
_COLOR = re.compile(rf"(?<![A-Za-z])({'|'.join(COLORS)})(?![A-Za-z])")


def shorten(query: str | None, limit: int = QUERY_CHARS) -> str:
    """One line of at most `limit` characters, every string literal replaced by '?' (a literal may be a secret)."""
    text = _DOLLAR_QUOTED.sub("'?'", query or "")
    text = " ".join(_LITERAL.sub("'?'", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Session:
    """One row of pg_stat_activity."""

    pid: int
    application: str = ""
    client: str | None = None
    backend: str = "client backend"
    state: str | None = None
    wait_type: str | None = None
    wait: str | None = None
    query_seconds: float | None = None
    xact_seconds: float | None = None
    query: str = ""
    blocked_by: tuple[int, ...] = ()
    waiting_for: str | None = None
    database: str | None = None
    user: str | None = None

    @property
    def waiting(self) -> str:
        """`Lock/transactionid` or `-`."""
        return f"{self.wait_type}/{self.wait}" if self.wait_type else "-"

    def describe(self) -> str:
        """`pid 42 app 12.3 s active: SELECT ...` (the text is already shortened)."""
        seconds = f" {self.query_seconds:.1f} s" if self.query_seconds is not None else ""
        app = f" {self.application}" if self.application else ""
        return f"pid {self.pid}{app}{seconds} {self.state or self.backend}: {self.query or '-'}"


@dataclass(frozen=True)
class Activity:
    """The whole reading."""

    max_connections: int
    sessions: tuple[Session, ...] = ()

    @property
    def clients(self) -> list[Session]:
        """The client backends (what counts against max_connections, with the reserved ones)."""
        return [session for session in self.sessions if session.backend == "client backend"]


def parse(text: str) -> Activity:
    """The JSON document as printed by psql (`-tA`): one line."""
    data = json.loads(text.strip() or "{}")
    sessions = tuple(_session(row) for row in data.get("sessions") or [])
    return Activity(int(data.get("max_connections") or 0), sessions)


def _session(row: dict[str, Any]) -> Session:
    def seconds(key: str) -> float | None:
        value = row.get(key)
        return None if value is None else round(float(value), 1)

    return Session(
        pid=int(row["pid"]),
        application=str(row.get("application") or ""),
        client=row.get("client") or None,
        backend=str(row.get("backend") or ""),
        state=row.get("state") or None,
        wait_type=row.get("wait_type") or None,
        wait=row.get("wait") or None,
        query_seconds=seconds("query_seconds"),
        xact_seconds=seconds("xact_seconds"),
        query=shorten(row.get("query")),
        blocked_by=tuple(sorted(int(pid) for pid in row.get("blocked_by") or [])),
        waiting_for=row.get("waiting_for") or None,
        database=row.get("database") or None,
        user=row.get("user") or None,
    )


def long_running(activity: Activity, threshold: float = LONG_QUERY_SECONDS) -> list[Session]:
    """Active queries running longer than `threshold` seconds, longest first."""
    found = [
        session
        for session in activity.sessions
        if session.state == "active" and (session.query_seconds or 0) >= threshold
    ]
    return sorted(found, key=lambda session: (-(session.query_seconds or 0), session.pid))


def idle_in_transaction(activity: Activity) -> list[Session]:
    """Sessions idle inside an open transaction (they hold their locks), the oldest transaction first."""
    found = [session for session in activity.sessions if (session.state or "").startswith("idle in transaction")]
    return sorted(found, key=lambda session: (-(session.xact_seconds or 0), session.pid))


def blocking_tree(activity: Activity) -> list[str]:
    """Who waits on whom, as indented lines: each root blocks and waits on nobody (or sits in a cycle);
    under it, every session it blocks, with what it waits for and what it runs."""
    by_pid = {session.pid: session for session in activity.sessions}
    children: dict[int, list[int]] = {}
    for session in activity.sessions:
        for blocker in session.blocked_by:
            children.setdefault(blocker, []).append(session.pid)
    if not children:
        return []
    waiting = {session.pid for session in activity.sessions if session.blocked_by}
    roots = sorted(pid for pid in children if pid not in waiting) or sorted(children)[:1]  # a cycle: start anywhere
    lines: list[str] = []
    shown: set[int] = set()

    def walk(pid: int, depth: int) -> None:
        session = by_pid.get(pid, Session(pid, query="(not visible)"))
        if depth == 0:
            lines.append(f"{session.describe()}  [blocks {len(children.get(pid, []))}]")
        else:
            wants = f" wants {session.waiting_for}" if session.waiting_for else ""
            lines.append(f"{'  ' * depth}└ {session.describe()}  [waits {session.waiting}{wants}]")
        if pid in shown:
            lines[-1] += "  (cycle)"
            return
        shown.add(pid)
        for child in sorted(children.get(pid, [])):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines


@dataclass(frozen=True)
class ConnectionGroup:
    """Connections of one (application name, client address), mapped to a host and a colour where possible."""

    application: str
    client: str | None
    count: int
    host: str = "?"
    color: str = "?"
    states: dict[str, int] = field(default_factory=dict, compare=False)


def color_of(application: str) -> str | None:
    """The colour an application name names as a word (`ghostworks-blue`, `api green`), else None."""
    found = _COLOR.search(application.lower())
    return found[1] if found else None


def host_of(application: str, client: str | None, host_addresses: dict[str, str]) -> str:
    """The inventory host a connection comes from (see the module docstring); `local socket` without an address."""
    if client in host_addresses:
        return host_addresses[client]
    named = application.rpartition("@")[2] if "@" in application else None
    if named in host_addresses:
        return host_addresses[named]
    return "?" if client else "local socket"


def connection_groups(activity: Activity, host_addresses: dict[str, str]) -> list[ConnectionGroup]:
    """Every session grouped by (application name, client address), most connections first.

    `host_addresses`: address -> host name (the inventory's app and db hosts); a local socket (no address)
    is on the db host itself.
    """
    counts: Counter = Counter()
    states: dict[tuple[str, str | None], Counter] = {}
    for session in activity.sessions:
        key = (session.application, session.client)
        counts[key] += 1
        states.setdefault(key, Counter())[session.state or session.backend] += 1
    groups = []
    for (application, client), count in counts.items():
        host = host_of(application, client, host_addresses)
        groups.append(
            ConnectionGroup(
                application, client, count, host, color_of(application) or "?", dict(states[(application, client)])
            )
        )
    return sorted(groups, key=lambda group: (-group.count, group.application, group.client or ""))


def per_color(groups: list[ConnectionGroup]) -> dict[str, int]:
    """Connections per colour (`?`: not mapped)."""
    totals: Counter = Counter()
    for group in groups:
        totals[group.color] += group.count
    return dict(sorted(totals.items()))


def usage_line(activity: Activity) -> str:
    """`12 of 100 connections (12 %), 3 client backends reserved for superusers not counted`."""
    used = len(activity.clients)
    limit = activity.max_connections
    share = f" ({100 * used / limit:.0f} %)" if limit else ""
    return f"{used} of {limit} connections in use{share}"


def as_json(activity: Activity, host_addresses: dict[str, str], threshold: float) -> dict[str, Any]:
    """Everything db.activity shows, for scripts."""

    def row(session: Session) -> dict[str, Any]:
        return {
            "pid": session.pid,
            "application": session.application,
            "client": session.client,
            "state": session.state,
            "wait": session.waiting,
            "query_seconds": session.query_seconds,
            "xact_seconds": session.xact_seconds,
            "query": session.query,
            "blocked_by": list(session.blocked_by),
        }

    groups = connection_groups(activity, host_addresses)
    return {
        "max_connections": activity.max_connections,
        "connections": len(activity.clients),
        "long_running": [row(s) for s in long_running(activity, threshold)],
        "idle_in_transaction": [row(s) for s in idle_in_transaction(activity)],
        "blocked": [row(s) for s in activity.sessions if s.blocked_by],
        "blocking_tree": blocking_tree(activity),
        "groups": [
            {"application": g.application, "client": g.client, "host": g.host, "color": g.color, "count": g.count}
            for g in groups
        ],
        "per_color": per_color(groups),
    }


@dataclass(frozen=True)
class Statement:
    """One row of pg_stat_statements (times in milliseconds)."""

    id: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    query: str


def parse_statements(text: str) -> list[Statement]:
    """The JSON array of ghosttasks.commands.postgres.statements."""
    return [
        Statement(
            str(row.get("id")),
            int(row.get("calls") or 0),
            float(row.get("total_ms") or 0),
            float(row.get("mean_ms") or 0),
            int(row.get("rows") or 0),
            shorten(row.get("query")),
        )
        for row in json.loads(text.strip() or "[]")
    ]


def top_statements(statements: list[Statement], by: str, limit: int) -> list[Statement]:
    """The first `limit` by `total_ms` or `mean_ms`, largest first."""
    return sorted(statements, key=lambda s: (-getattr(s, by), s.id))[:limit]


def statements_missing(present: dict[str, Any]) -> str | None:
    """None when pg_stat_statements can be read; else the one line saying how to enable it."""
    if present.get("installed") and present.get("preloaded"):
        return None
    if not present.get("preloaded"):
        return (
            "pg_stat_statements is not loaded: add it to shared_preload_libraries "
            "(postgres -c shared_preload_libraries=pg_stat_statements), restart PostgreSQL, then run "
            "CREATE EXTENSION pg_stat_statements in the database"
        )
    return "pg_stat_statements is loaded but not created in this database: run CREATE EXTENSION pg_stat_statements"
