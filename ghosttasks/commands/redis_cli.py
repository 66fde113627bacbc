"""Redis reads through the shared redis service on the db host."""

from __future__ import annotations

from ghosttasks.commands import compose
from ghosttasks.commands.facts import Answer, Fact, Unread


def ping(project: compose.Project, *, service: str, address: str | None = None) -> Fact[str | Unread]:
    """`redis-cli [-h ADDRESS] ping` in the redis container: PONG, else why not (a Redis with a password answers
    NOAUTH: set checks.redis_command). Without an address redis-cli asks 127.0.0.1 (the container's own, or the
    host's with host networking); a Redis bound to the host's address only needs it."""
    where = f" at {address}" if address else ""

    def parse(answer: Answer) -> str | Unread:
        if answer.ok and answer.stdout.strip() == "PONG":
            return f"Redis OK (PING{where}: PONG)"
        return Unread(answer.describe() if not answer.ok else f"[{answer.host}] answered {answer.stdout.strip()!r}")

    argv = ["redis-cli", *(["-h", address] if address else []), "ping"]
    return Fact("redis check", compose.exec_(project, service, argv), parse, "PONG\n", check=False)
