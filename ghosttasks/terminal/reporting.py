"""How deploy.status, deploy.history and traffic.status show their reports (tables, lines or JSON)."""

from __future__ import annotations

from typing import Any

from ghosttasks.domain.audit import HistoryEntry, LockHolder
from ghosttasks.terminal.output import Output

HISTORY_COLUMNS = ["start", "task", "version", "user", "result", "failed step", "seconds"]


def show_status(out: Output, env_name: str, report: dict[str, Any], *, as_json: bool) -> None:
    """deploy.status: a table per colour, the LB's live upstream and the lock."""
    if as_json:
        out.json(report)
        return
    rows = [
        [
            color,
            "active" if report["active"] == color else "idle",
            info["version"],
            info["alembic_head"],
            info["deployed_at"],
            describe_images(info.get("images") or {}),
        ]
        for color, info in report["colors"].items()
    ]
    columns = ["colour", "role", "version", "alembic head", "deployed", "images (digest)"]
    out.table(f"{env_name}: deploy state", columns, rows)
    if "lb" in report:
        lb = report["lb"]
        out.info(describe_selector(lb))
        if lb.get("problem"):
            out.fail(lb["problem"])
    for line in report.get("workers", []):
        out.info(f"workers {line}")
    out.info(describe_lock(report["lock"]))
    show_disagreements(out, env_name, report["disagreements"], report["lock"])


def show_disagreements(out: Output, env_name: str, disagreements: list[str], lock: LockHolder | None) -> None:
    """Every way state.json differs from reality, as errors, and the command that repairs the record (a run
    that holds the lock may simply not have recorded its last step yet)."""
    for line in disagreements:
        out.fail(f"state.json disagrees with reality: {line}")
    if not disagreements:
        return
    if lock:
        out.warn(
            f"{lock.task} (run {lock.run_id}) holds the lock: a run in progress records its change "
            "when it ends; if that run is gone, release its lock first (inv deploy.unlock --force)"
        )
    out.info(f"next: inv deploy.recover --env {env_name} (or any deploy, rollback or switch) repairs the record")


def describe_images(images: dict[str, str]) -> str:
    """`api sha256:1234abcd, web sha256:1234abcd` (the first 8 hex digits), or `-` when none is recorded."""
    short = [f"{service} {reference.rpartition('@')[2][:15]}" for service, reference in sorted(images.items())]
    return ", ".join(short) or "-"


def show_prune(out: Output, env_name: str, report: dict[str, Any], *, dry_run: bool, as_json: bool) -> None:
    """deploy.prune: per app host what goes (or would go) and the space freed."""
    if as_json:
        out.json(report)
        return
    rows = [
        [
            host,
            ", ".join(item["remove"]) or "-",
            len(item["images"]),
            len(item["worktrees"]),
            "(dry run)" if dry_run else f"{item.get('freed_bytes', 0) / 1e6:.1f}",
        ]
        for host, item in report["hosts"].items()
    ]
    title = f"{env_name}: prune (always kept: {', '.join(report['keep']) or 'nothing'} and the last {report['last']})"
    out.table(title, ["host", "versions removed", "image names", "worktrees", "MB freed"], rows)


def describe_selector(lb: dict[str, Any]) -> str:
    """One line: the colour the LB selects per request, and whether its config is the rendered one."""
    config = (
        "config as rendered"
        if lb.get("config_current")
        else "config differs from the inventory's (next switch installs it)"
    )
    if not lb.get("hosts"):
        return f"LB selects: {lb.get('color') or 'unknown'} ({config})"
    each = ", ".join(
        f"{name} {info['color'] or 'unreadable'}"
        + ("" if info["config_current"] in (True, None) else " (config differs)")
        for name, info in lb["hosts"].items()
    )
    return f"LBs select: {lb.get('color') or 'not one colour'} ({each}; {config})"


def describe_lock(lock: LockHolder | None) -> str:
    """One line: free, or who holds the lock, why and since when (and whether it is an emergency freeze)."""
    if not lock:
        return "lock: free"
    frozen = ", FROZEN" if lock.frozen else ""
    return f"lock: held by {lock.user} ({lock.reason}), since {lock.since}{frozen}"


def history_rows(entries: list[HistoryEntry]) -> list[list[Any]]:
    """One table row per audit entry, in HISTORY_COLUMNS order."""
    return [
        [entry.start, entry.task, entry.version, entry.user, result_of(entry), entry.failed_step or "", entry.seconds]
        for entry in entries
    ]


def result_of(entry: HistoryEntry) -> str | None:
    """The entry's result, with how many checks or triggers it could not judge (`ok (2 not judged)`)."""
    if not entry.unevaluated:
        return entry.result
    return f"{entry.result} ({len(entry.unevaluated)} not judged)"


def show_history(out: Output, env_name: str, entries: list[HistoryEntry], limit: int, *, as_json: bool) -> None:
    """deploy.history: the last runs as a table (or JSON)."""
    if as_json:
        out.json(entries)
        return
    out.table(f"{env_name}: last {limit} runs", HISTORY_COLUMNS, history_rows(entries))


def show_traffic(out: Output, report: dict[str, Any], *, as_json: bool) -> None:
    """traffic.status: recorded state, the LB's upstream file and what really answered."""
    if as_json:
        out.json(report)
        return
    lb = report.get("lb", {})
    out.info(f"recorded: active {report['active']}, previous {report['previous']}")
    out.info(describe_selector(lb))
    if lb.get("problem"):
        out.fail(lb["problem"])
    show_disagreements(out, report["environment"], report["disagreements"], report["lock"])
    out.info(f"answers: {report.get('sample_summary', 'not sampled')}")
    if report.get("sample_problem"):
        out.warn(report["sample_problem"])
    shares = report.get("shares")
    if shares:
        out.info("share set on the LB: " + ", ".join(f"{color} {percent}%" for color, percent in shares["set"].items()))
        if "measured" in shares:
            measured = ", ".join(f"{color} {percent}%" for color, percent in shares["measured"].items())
            failed = f", {shares['failures']} failed" if shares["failures"] else ""
            out.info(f"share measured through the LB: {measured} ({shares['requests']} new clients{failed})")
