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


#: Prints `<key> <type> <length>` per key (`<pattern> none 0` for a glob that matches nothing); $A: -h ADDRESS.
_DEPTH_SCRIPT = (
    'for p in "$@"; do '
    'case "$p" in *[*?[]*) keys=$(redis-cli $A --scan --pattern "$p") || exit 3;; *) keys=$p;; esac; '
    '[ -n "$keys" ] || { echo "$p none 0"; continue; }; '
    'for k in $keys; do t=$(redis-cli $A type "$k") || exit 3; '
    'case "$t" in list) c=llen;; stream) c=xlen;; zset) c=zcard;; set) c=scard;; hash) c=hlen;; '
    'none) echo "$k none 0"; continue;; *) echo "$k $t ?"; continue;; esac; '
    'echo "$k $t $(redis-cli $A $c "$k")"; done; done'
)


def queue_depth(
    project: compose.Project, *, service: str, keys: list[str], address: str | None = None
) -> Fact[dict[str, int] | Unread]:
    """The length of each key (list, stream, sorted set, set, hash; a missing key is 0), keys matching a glob
    each on their own, read by redis-cli in the redis container; Unread with Redis' own answer when it is not
    one (refused, NOAUTH...)."""

    def parse(answer: Answer) -> dict[str, int] | Unread:
        depths: dict[str, int] = {}
        for line in answer.stdout.splitlines():
            fields = line.split()
            if len(fields) != 3 or not fields[2].isdigit():
                said = (answer.stdout.strip() or answer.stderr.strip())[:200]
                return Unread(f"[{answer.host}] queue depth: redis-cli answered {said!r}")
            depths[fields[0]] = int(fields[2])
        if not answer.ok:
            return Unread(answer.describe())
        return depths

    env = {"A": f"-h {address}"} if address else None
    argv = ["sh", "-c", _DEPTH_SCRIPT, "sh", *keys]
    assumed = "".join(f"{key} list 0\n" for key in keys)
    command = compose.exec_running(project.name, service, argv, env)
    return Fact("queue depth", command, parse, assumed, check=False)
