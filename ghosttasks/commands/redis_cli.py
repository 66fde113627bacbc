"""Redis reads through the shared redis service on the db host."""

from __future__ import annotations

from ghosttasks.commands import compose
from ghosttasks.commands.facts import Answer, Fact, Unread


def ping(project: compose.Project, *, service: str) -> Fact[str | Unread]:
    """`redis-cli ping` in the redis container: PONG, else why not (a Redis with a password answers NOAUTH: set
    checks.redis_command)."""

    def parse(answer: Answer) -> str | Unread:
        if answer.ok and answer.stdout.strip() == "PONG":
            return "Redis OK (PING: PONG)"
        return Unread(answer.describe() if not answer.ok else f"[{answer.host}] answered {answer.stdout.strip()!r}")

    return Fact("redis check", compose.exec_(project, service, ["redis-cli", "ping"]), parse, "PONG\n", check=False)
