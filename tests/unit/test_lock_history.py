"""Every run leaves a history line: refused runs, unlocks, and runs that died holding the lock."""

import json
import os
import re
import shlex
import subprocess

import pytest

from ghosttasks.domain.audit import HistoryEntry, LockHolder
from ghosttasks.domain.deploy_state import DeployState, Intent
from ghosttasks.domain.errors import DeployLocked
from ghosttasks.flows import holds
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.records.deploy_lock import (
    DeployLock,
    dead_run_entry,
    describe_dead_holder,
    holder_is_dead,
    pid_alive,
    refused_entry,
    running_here,
    unlocked_entry,
)
from ghosttasks.records.state_store import Store
from ghosttasks.testing import Answer, ScriptedExecutor, a_run, prod

SINCE_EPOCH = 1_764_600_000


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def holder(**fields):
    return {
        "run_id": "0badc0de",
        "user": "ana",
        "origin": "laptop",
        "pid": 4242,
        "command": "inv deploy.prod --version v1.2.0",
        "task": "deploy.prod",
        "version": "v1.2.0",
        "reason": "deploy v1.2.0",
        "since": "2026-12-01T10:00:00Z",
        "since_epoch": SINCE_EPOCH,
        "frozen": False,
        **fields,
    }


def lock_holder(**fields):
    """holder() as the lock module reads it."""
    return LockHolder.from_dict(holder(**fields))


# -- the pure decisions -----------------------------------------------------------------------------


def alive_if(*pids):
    return lambda pid: pid in pids


@pytest.mark.parametrize(
    ("fields", "dead"),
    [
        ({}, True),
        ({"origin": "ci-runner"}, False),  # another machine: its process cannot be checked from here
        ({"pid": 17}, False),  # still running here
        ({"frozen": True}, False),  # an emergency freeze outlives its run on purpose
        ({"task": "deploy.lock"}, False),  # so does a hold
        ({"pid": None}, False),
        ({"pid": 0}, False),  # os.kill(0, 0) would ask about our own process group
        ({"pid": -1}, False),
        ({"pid": "4242"}, False),
        ({"pid": True}, False),
    ],
)
def test_holder_is_dead_only_when_certain(fields, dead):
    assert holder_is_dead(lock_holder(**fields), origin="laptop", alive=alive_if(17)) is dead


def test_an_unreadable_lock_file_is_never_judged_dead():
    assert not holder_is_dead(LockHolder.parse("{"), origin="laptop", alive=alive_if())


def test_pid_alive_asks_the_kernel():
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())


def test_running_here():
    assert running_here(lock_holder(pid=17), origin="laptop", alive=alive_if(17))
    assert not running_here(lock_holder(pid=17), origin="ci-runner", alive=alive_if(17))
    assert not running_here(lock_holder(), origin="laptop", alive=alive_if(17))


def test_the_history_line_of_a_dead_run():
    died = dead_run_entry(lock_holder(), "prod", now=SINCE_EPOCH + 754.9, noticed_by="feedf00d")
    assert died.to_dict() == {
        "run_id": "0badc0de",
        "user": "ana",
        "origin": "laptop",
        "pid": 4242,
        "command": "inv deploy.prod --version v1.2.0",
        "task": "deploy.prod",
        "environment": "prod",
        "version": "v1.2.0",
        "reason": "deploy v1.2.0",
        "start": "2026-12-01T10:00:00Z",
        "end": None,
        "seconds": None,
        "result": "died",
        "error": "ended without a record",
        "holder": "ana@laptop",
        "age_seconds": 754,
        "noticed_by": "feedf00d",
    }


def test_a_dead_run_without_a_start_time_has_no_age():
    assert dead_run_entry(lock_holder(since_epoch=0), "prod", now=SINCE_EPOCH, noticed_by="x").age_seconds is None


def test_the_refusal_when_the_holder_is_gone():
    message, hint = describe_dead_holder(lock_holder(), "prod", SINCE_EPOCH + 754)
    assert message == (
        "prod is locked by run 0badc0de (deploy.prod v1.2.0 by ana@laptop, since 2026-12-01T10:00:00Z "
        "(12 min 34 s ago)), which is gone: its process 4242 no longer exists on laptop"
    )
    assert hint == (
        "the run ended without releasing the lock (killed?); release it: inv deploy.unlock --env prod --force, "
        "then check what it left: inv deploy.status --env prod"
    )


def test_refused_and_unlocked_lines_name_the_holder():
    base = {"run_id": "feedf00d", "task": "deploy.prod", "start": "T", "end": "T"}
    summary = {key: value for key, value in holder().items() if key not in ("command", "since_epoch")}
    assert refused_entry(HistoryEntry(**base), lock_holder(), "prod is locked").to_dict() == {
        **base,
        "result": "refused",
        "error": "prod is locked",
        "holder": summary,
    }
    assert unlocked_entry(HistoryEntry(**base), lock_holder(), forced=True).to_dict() == {
        **base,
        "result": "unlocked",
        "forced": True,
        "holder": summary,
    }


# -- the procedures, against a simulated LB host -------------------------------------------------------


class FakeLB(ScriptedExecutor):
    """The LB host's state dir as data: the lock holder (or None), history.jsonl's entries, state.json's text.

    Only the commands that read or change it are scripted: any other one fails the test.
    """

    def __init__(self, *, lock=None, history=(), history_fails=False, state=""):
        super().__init__(prod(), unscripted="strict")
        self.lock, self.history, self.history_fails, self.state = lock, list(history), history_fails, state
        self.on(lambda command: "history.jsonl" in command and ">>" in command, reply=self._append)
        self.on(re.compile("^tail -n "), reply=self._tail)
        self.on('if mv -T "$t" ', reply=self._acquire)
        self.on(re.compile(r"^cat .*lock/info\.json"), reply=lambda call: Answer(self._holder()))
        self.on(re.compile(r"^cat .*state\.json"), reply=lambda call: Answer(self.state))
        self.on(re.compile(r"^rm -rf .*/lock$"), reply=self._release)

    def _append(self, call):
        if self.history_fails:
            return Answer(stderr="No space left on device", exit_code=1)
        self.history.append(json.loads(next(w for w in shlex.split(call.command) if w.startswith("{") and w != "{")))
        return Answer()

    def _tail(self, call):
        count = int(call.command.split()[2])
        return Answer("".join(json.dumps(entry) + "\n" for entry in self.history[-count:]))

    def _acquire(self, call):
        if self.lock is not None:
            return Answer(self._holder(), exit_code=1)
        self.lock = json.loads(next(w for w in shlex.split(call.command) if w.startswith("{") and w != "{"))
        return Answer()

    def _holder(self):
        return json.dumps(self.lock) + "\n" if self.lock else ""

    def _release(self, call):
        self.lock = None
        return Answer()


def lb_run(task="deploy.prod", **lb):
    return a_run(FakeLB(**lb), task=task)


def test_a_refused_run_leaves_a_history_line_and_the_lock_as_it_is():
    other = holder(origin="ci-runner")
    run = lb_run(lock=other)
    with pytest.raises(DeployLocked) as refusal, guarded(run, Store(run), version="v1.3.0", reason="deploy v1.3.0"):
        raise AssertionError("the body must not run")
    assert refusal.value.exit_code == 3 and refusal.value.holder == LockHolder.from_dict(other)
    [entry] = run.executor.history
    assert entry["result"] == "refused" and entry["error"] == str(refusal.value)
    assert (entry["run_id"], entry["task"], entry["version"], entry["environment"]) == (
        run.run_id,
        "deploy.prod",
        "v1.3.0",
        "prod",
    )
    assert entry["holder"]["run_id"] == "0badc0de" and entry["holder"]["origin"] == "ci-runner"
    assert run.executor.lock == other
    assert not [c for c in run.executor.commands if c.command.startswith("rm ")]


def test_a_run_that_died_holding_the_lock_is_recorded_once():
    run = lb_run()
    gone = holder(origin=run.origin, pid=dead_pid())
    run.executor.lock = gone
    with pytest.raises(DeployLocked) as refusal:
        DeployLock(run).acquire(version="v1.3.0", reason="deploy v1.3.0")
    assert "which is gone: its process" in str(refusal.value)
    assert "inv deploy.unlock --env prod --force" in refusal.value.hint
    died, refused = run.executor.history
    assert (died["run_id"], died["result"], died["error"]) == ("0badc0de", "died", "ended without a record")
    assert died["noticed_by"] == run.run_id and died["age_seconds"] > 0
    assert (refused["run_id"], refused["result"]) == (run.run_id, "refused")

    later = lb_run(lock=gone, history=run.executor.history)
    with pytest.raises(DeployLocked):
        DeployLock(later).acquire(version="v1.3.0", reason="deploy v1.3.0")
    assert [entry["result"] for entry in later.executor.history] == ["died", "refused", "refused"]
    assert later.executor.lock == gone, "the dead run's lock is released only by deploy.unlock"


def test_a_holder_still_running_here_is_refused_as_usual():
    run = lb_run()
    run.executor.lock = holder(origin=run.origin, pid=os.getpid())
    with pytest.raises(DeployLocked) as refusal:
        DeployLock(run).acquire(version="v1.3.0", reason="deploy v1.3.0")
    assert "is locked by another deploy" in str(refusal.value) and refusal.value.hint is None
    assert [entry["result"] for entry in run.executor.history] == ["refused"]


def test_a_history_that_cannot_be_written_does_not_hide_the_refusal():
    run = lb_run(lock=holder(origin="ci-runner"), history_fails=True)
    with pytest.raises(DeployLocked):
        DeployLock(run).acquire(version="v1.3.0", reason="deploy v1.3.0")
    assert "could not write the history entry on lb1" in run.out.printed


def test_unlock_force_records_the_previous_holder():
    own_line = {"run_id": "0badc0de", "result": "failed", "error": "lb1 unreachable at the end"}
    run = lb_run(task="deploy.unlock", lock=holder(origin="ci-runner"), history=[own_line])
    holds.unlock(run, force=True)
    assert run.executor.lock is None
    assert run.executor.history[0] == own_line
    [unlocked] = run.executor.history[1:]
    assert (unlocked["result"], unlocked["forced"], unlocked["task"]) == ("unlocked", True, "deploy.unlock")
    assert unlocked["holder"]["run_id"] == "0badc0de" and unlocked["holder"]["user"] == "ana"


def test_unlock_force_of_a_run_without_a_line_records_it_as_died_first():
    run = lb_run(task="deploy.unlock", lock=holder(origin="ci-runner"))
    holds.unlock(run, force=True)
    died, unlocked = run.executor.history
    assert (died["run_id"], died["result"], died["error"]) == ("0badc0de", "died", "ended without a record")
    assert unlocked["result"] == "unlocked"


def test_unlock_force_names_a_change_the_dead_run_left_unfinished():
    intent = Intent("0badc0de", "deploy.prod", "2026-12-07T03:00:00Z", "green", "v2.1.0")
    state = DeployState(active="blue", intent=intent).to_json()
    run = lb_run(task="deploy.unlock", lock=holder(origin="ci-runner"), state=state)
    holds.unlock(run, force=True)
    assert run.executor.lock is None
    said = run.out.printed
    assert (
        "that run left a change unfinished (deploy.prod (run 0badc0de, since 2026-12-07T03:00:00Z): v2.1.0 into" in said
    )
    assert "inv deploy.recover --env prod" in said


@pytest.mark.parametrize("kind", ["freeze", "hold", "running here"])
def test_unlock_records_no_death_for_a_lock_meant_to_stay_or_a_run_still_going(kind):
    run = lb_run(task="deploy.unlock")
    run.executor.lock = {
        "freeze": holder(task="deploy.emergency-rollback", frozen=True),
        "hold": holder(task="deploy.lock"),
        "running here": holder(origin=run.origin, pid=os.getpid()),
    }[kind]
    holds.unlock(run, force=True)
    assert [entry["result"] for entry in run.executor.history] == ["unlocked"]


def test_deploy_lock_records_the_hold_and_a_refused_hold():
    run = lb_run(task="deploy.lock")
    holds.hold(run, "db maintenance")
    [locked] = run.executor.history
    assert (locked["result"], locked["reason"], locked["run_id"]) == ("locked", "db maintenance", run.run_id)

    second = lb_run(task="deploy.lock", lock=run.executor.lock, history=run.executor.history)
    with pytest.raises(DeployLocked):
        holds.hold(second, "me too")
    assert [entry["result"] for entry in second.executor.history] == ["locked", "refused"]
