"""PURE the LB's access log as the triggers' source: the bounded read of a window's lines, and its answer.

The selector makes nginx write one line per request (templates/nginx, format tag ACCESS_LOG_TAG):
`gt1 <msec> <status> <request_time> <colour>`. A read prints the LB's clock, then the lines of the last
`seconds` (at most `max_lines`: the newest), pre-filtered on the LB by awk so a busy log does not cross the
wire; ghosttasks.decisions.traffic_window judges them. A log that is not there prints `missing` (or
`unreadable`), never an empty window: "no log" and "no requests" are different answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ghosttasks.commands import qpath
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.metric_queries import ACCESS_LOG_TAG

#: The newest lines a read looks at (about 60 bytes each): the window's reading covers these when it held more.
MAX_LINES = 20000


@dataclass(frozen=True)
class LogWindow:
    """What a read printed: the LB's clock, the window's lines, or why there are none (`missing`...)."""

    now: float | None
    lines: list[str] = field(default_factory=list)
    problem: str | None = None  # "missing", "unreadable": the log cannot be read at all


def read_window(path: str, seconds: int, max_lines: int = MAX_LINES) -> str:
    """Print `now <epoch>`, then this project's lines of the last `seconds` among the newest `max_lines`."""
    log = qpath(path)
    keep = f'$1 == "{ACCESS_LOG_TAG}" && $2 >= since'
    return (
        f'if [ -r {log} ]; then now=$(date +%s); echo "now $now"; '
        f"tail -n {int(max_lines)} {log} | awk -v since=\"$((now - {int(seconds)}))\" '{keep}'; "
        f"elif [ -e {log} ]; then echo unreadable; else echo missing; fi"
    )


def parse_window(text: str) -> LogWindow:
    """read_window's output as a LogWindow; an answer that is none of its shapes is an error."""
    head, _, rest = text.partition("\n")
    head = head.strip()
    if head in ("missing", "unreadable"):
        return LogWindow(None, problem=head)
    word, _, value = head.partition(" ")
    try:
        now = float(value) if word == "now" else None
    except ValueError:
        now = None
    if now is None:
        raise ValueError(f"not an access-log read: {head[:80]!r}")
    return LogWindow(now, [line for line in rest.splitlines() if line.strip()])


def window(path: str, seconds: int, *, assumed: str = "") -> Fact[LogWindow]:
    """The LB access log's last `seconds` (a dry run assumes `assumed`: the lines it shows)."""

    def parse(answer: Answer) -> LogWindow:
        try:
            return parse_window(answer.stdout)
        except ValueError as exc:
            raise OperationFailed(f"cannot read the access log {path} on {answer.host}: {exc}") from None

    return Fact(f"read the LB access log ({path})", read_window(path, seconds), parse, assumed or "now 0\n")
