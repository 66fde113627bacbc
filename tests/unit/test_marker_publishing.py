"""A marker that cannot be published warns and leaves the run's own result alone."""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path

import httpx

from ghosttasks.config.inventory import load_inventory
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.run import Run
from ghosttasks.flows.emergency import emergency_rollback
from ghosttasks.terminal.output import Output

ROOT = Path(__file__).resolve().parents[2]


class PushgatewayDown(PlanRecorder):
    """A dry run, except that the marker push really runs into a refused connection."""

    def probe(self, description, check, *, assume):
        self.entries.append(f"probe {description}")
        if description.startswith("PUT "):
            raise httpx.ConnectError("[Errno 111] Connection refused")
        return assume


def test_an_emergency_rollback_succeeds_when_the_pushgateway_is_down():
    prod = load_inventory(ROOT / "hosts.yml").env("prod")
    stream = io.StringIO()
    out = Output(stream=stream)
    recorder = PushgatewayDown(prod, out)
    state = emergency_rollback(Run(prod, recorder, out, "deploy.emergency-rollback"), reason="drill")
    assert state.active == "blue"
    printed = stream.getvalue().splitlines()
    assert (
        "warn could not publish the rolled_back marker to http://pushgateway.internal.ghostworks.dev:9091: "
        "ConnectError: [Errno 111] Connection refused" in printed
    )
    [history] = [line for line in recorder.entries if "history.jsonl" in line]
    entry = json.loads(next(word for word in shlex.split(history.split("$ ", 1)[1]) if word.startswith("{")))
    assert entry["result"] == "ok"
    assert any(line.startswith("probe PUT http://pushgateway.internal") for line in recorder.entries)
