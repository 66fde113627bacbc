"""Generic remote file builders: read a file, append a line, tail the last lines."""

from __future__ import annotations

import shlex

from ghosttasks.commands import assumptions, qpath
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed


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


def deploy_state(path: str) -> Fact[DeployState]:
    """state.json at `path` (missing or empty: nothing recorded); a corrupt one fails, left as it is."""

    def parse(answer: Answer) -> DeployState:
        if not answer.stdout.strip():
            return DeployState()
        try:
            return DeployState.from_json(answer.stdout)
        except (ValueError, TypeError) as exc:
            raise OperationFailed(
                f"{answer.host}:{path} is corrupt ({exc}); it was left as it is",
                hint="inspect it, fix or move it aside, then run `inv traffic.status` to check what is serving",
            ) from None

    note = f"dry run: state.json is assumed to say {assumptions.describe_state()}"
    return Fact("read deploy state", read_file(path), parse, assumptions.STATE.to_json(), note=note)
