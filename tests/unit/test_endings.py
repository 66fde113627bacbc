"""Every ending is an ending: a SystemExit, a closed stdout pipe or a signal ends a run with a recorded
result and the lock released, and the lines the terminal could not show are in the run log."""

import json
import shlex
from pathlib import Path

import pytest

from ghosttasks.flows.guard import guarded
from ghosttasks.inventory import load_inventory
from ghosttasks.output import Output
from ghosttasks.plan_recorder import PlanRecorder
from ghosttasks.run import Run
from ghosttasks.state import Store

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "then rm -rf /var/lib/ghosttasks/lock; fi"


@pytest.fixture
def prod():
    return load_inventory(ROOT / "hosts.yml").env("prod")


def planned_run(prod, out):
    return Run(prod, PlanRecorder(prod, out), out, "deploy.prod")


def recorded(recorder):
    """The history entry the plan wrote, and the entry after it (the lock release)."""
    [index] = [i for i, line in enumerate(recorder.entries) if "history.jsonl" in line]
    words = shlex.split(recorder.entries[index].split("$ ", 1)[1])
    return json.loads(next(word for word in words if word.startswith("{"))), recorder.entries[index + 1]


# -- guarded(): every ending has a result and releases the lock -----------------------------------------


def test_a_system_exit_inside_a_flow_is_recorded_as_aborted_and_the_lock_released(prod):
    run = planned_run(prod, Output(silent=True))
    with pytest.raises(SystemExit), guarded(run, Store(run), version="v1.2.0", reason="deploy v1.2.0"):
        raise SystemExit(1)
    entry, after = recorded(run.executor)
    assert (entry["result"], entry["error"]) == ("aborted", "aborted by SystemExit(1)")
    assert after.endswith(RELEASE)


def test_any_base_exception_is_recorded_as_aborted(prod):
    class Cancelled(BaseException):
        pass

    run = planned_run(prod, Output(silent=True))
    with pytest.raises(Cancelled), guarded(run, Store(run), version="v1.2.0", reason="deploy v1.2.0"):
        raise Cancelled("worker gone")
    entry, after = recorded(run.executor)
    assert entry["result"] == "aborted" and "Cancelled('worker gone')" in entry["error"]
    assert after.endswith(RELEASE)
