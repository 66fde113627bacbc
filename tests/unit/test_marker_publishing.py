"""A marker that cannot be published warns and leaves the run's own result alone."""

from __future__ import annotations

import json
import re
import shlex

import httpx

from ghosttasks.flows.emergency import emergency_rollback
from ghosttasks.testing import ScriptedExecutor, a_run, prod


def refused(check):
    raise httpx.ConnectError("[Errno 111] Connection refused")


def test_an_emergency_rollback_succeeds_when_the_pushgateway_is_down():
    """A dry run, except that the marker push really runs into a refused connection."""
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on_probe(re.compile("^PUT "), refused)
    run = a_run(recorder, task="deploy.emergency-rollback")
    state = emergency_rollback(run, reason="drill")
    assert state.active == "blue"
    printed = run.out.printed.splitlines()
    assert (
        "warn could not publish the rolled_back marker to http://pushgateway.internal.ghostworks.dev:9091: "
        "ConnectError: [Errno 111] Connection refused" in printed
    )
    [history] = [line for line in recorder.entries if "history.jsonl" in line]
    entry = json.loads(next(word for word in shlex.split(history.split("$ ", 1)[1]) if word.startswith("{")))
    assert entry["result"] == "ok"
    assert any(line.startswith("probe PUT http://pushgateway.internal") for line in recorder.entries)
