"""deploy.prune: the release worktrees and images of versions retention does not keep, removed by hand."""

from __future__ import annotations

from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.build_once import prune
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.reality import check, reconciled_state
from ghosttasks.records.state_store import Store


def prune_by_hand(run: Run, *, keep: int | None, list_only: bool) -> dict:
    """deploy.prune: under the deploy lock (never beside a deploy), from the recorded state."""
    store = Store(run)
    with guarded(run, store, version=None, reason="prune old versions", lock=not list_only) as entry:
        # what both colours really run is kept; listing (no lock) repairs nothing, it only reads
        state = check(run, store)[1].state if list_only else reconciled_state(run, store, entry)
        report = prune(run, state, keep=keep or run.env.images.keep, dry_run_only=list_only)
        entry.removed = {host: item["remove"] for host, item in report["hosts"].items()}
        return report
