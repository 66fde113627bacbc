"""Every ending is an ending: a SystemExit, a closed stdout pipe or a signal ends a run with a recorded
result and the lock released, and the lines the terminal could not show are in the run log."""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from invoke import Context, Exit
from rich.text import Text

from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.records.state_store import Store
from ghosttasks.tasks.runtime import EXIT_INTERRUPTED, ghost_task
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.runlog import RunLog
from ghosttasks.testing import a_run

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "then rm -rf /var/lib/ghosttasks/lock; fi"


@pytest.fixture
def closed_pipe():
    """A text stream whose reader is gone (`| head -1`): writing to it raises BrokenPipeError."""
    reader, writer = os.pipe()
    os.close(reader)
    stream = open(writer, "w")  # noqa: SIM115 (closed below)
    yield stream
    stream.close()  # flushing what is buffered must not fail either


def planned_run(prod, out):
    return a_run(PlanRecorder(prod, out), out=out)


def recorded(recorder):
    """The history entry the plan wrote, and the entry after it (the lock release)."""
    [index] = [i for i, line in enumerate(recorder.entries) if "history.jsonl" in line]
    words = shlex.split(recorder.entries[index].split("$ ", 1)[1])
    return json.loads(next(word for word in words if word.startswith("{"))), recorder.entries[index + 1]


def printed(log):
    log.close()
    events = [json.loads(line) for line in log.path.read_text().splitlines()]
    return [(event["stream"], event["line"]) for event in events if event["event"] == "printed"]


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


def test_a_broken_pipe_while_printing_does_not_end_the_flow(prod, closed_pipe):
    run = planned_run(prod, Output(stream=closed_pipe))

    def probe_thread_prints():
        run.out.info("health blue: ok")

    with guarded(run, Store(run), version="v1.2.0", reason="deploy v1.2.0") as entry:
        run.out.step("health check blue")
        thread = threading.Thread(target=probe_thread_prints)
        thread.start()
        thread.join()
        run.out.ok("blue answers v1.2.0")
        entry.color = "blue"
    recorded_entry, after = recorded(run.executor)
    assert (recorded_entry["result"], recorded_entry["color"]) == ("ok", "blue")
    assert after.endswith(RELEASE)


# -- Output: a closed pipe silences the terminal, the run log keeps every line ---------------------------


def test_output_on_a_closed_pipe_goes_quiet_and_the_run_log_keeps_every_line(closed_pipe, tmp_path):
    out = Output(stream=closed_pipe, err_stream=closed_pipe)
    out.log = RunLog("deploy.prod", "cafe0001", tmp_path)
    out.step("switch traffic")
    out.ok("DATABASE_URL=postgres://app:hunter22@db/app answers")
    out.render(Text("✓ switch traffic   1.2 s"))
    out.table("hosts", ["host", "state"], [["app1", "up"]])
    out.json({"active": "green"})
    out.error("error: step 'monitor' failed")
    lines = printed(out.log)
    assert lines[:3] == [
        ("stdout", "==> switch traffic"),
        ("stdout", "ok   DATABASE_URL=postgres://app:********@db/app answers"),
        ("stdout", "✓ switch traffic   1.2 s"),
    ]
    assert ("stdout", "│ app1 │ up    │") in lines
    assert [line for stream, line in lines if stream == "stdout"][-3:] == ["{", '  "active": "green"', "}"]
    assert lines[-1] == ("stderr", "error: step 'monitor' failed")
    assert not out.is_terminal


def test_a_quiet_output_logs_only_what_it_would_have_shown(tmp_path):
    out = Output(quiet=True, stream=open(os.devnull, "w"))  # noqa: SIM115 (a throwaway stream)
    out.log = RunLog("deploy.prod", "cafe0002", tmp_path)
    out.info("hidden by --quiet")
    out.warn("shown")
    assert printed(out.log) == [("stdout", "warn shown")]


def test_the_live_view_survives_a_closed_pipe(closed_pipe, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws the Live as on a terminal
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    out = Output(stream=closed_pipe)
    region = out.live(lambda: Text("⠋ health check blue   2.0 s"))
    time.sleep(0.3)  # the Live's refresh thread draws a few frames
    region.refresh()
    out.info("a line above the live view")
    region.stop()
    assert failures == []


def test_the_error_lines_of_a_task_are_in_its_run_log_too(inv, monkeypatch, tmp_path):
    def broken(run, reason):
        raise OperationFailed("lb1 refused the lock", hint="inv deploy.status")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", broken)
    code, _, _ = inv("deploy.lock", "--reason", "db maintenance")
    [path] = (tmp_path / "runs").iterdir()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert code == 1
    assert [(event["stream"], event["line"]) for event in events if event["event"] == "printed"][-2:] == [
        ("stderr", "error: lb1 refused the lock"),
        ("stderr", "next: inv deploy.status"),
    ]


# -- @ghost_task: its signal handlers, restored after ---------------------------------------------------


@pytest.fixture
def sigint_ignored():
    """SIGINT inherited ignored, as in a background job of a non-interactive shell."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_task_installs_its_handlers_even_over_an_ignored_sigint_and_restores_them(sigint_ignored):
    seen = {}

    @ghost_task()
    def handlers(c):
        seen.update({signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)})

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    handlers(Context())
    assert seen[signal.SIGINT] is signal.default_int_handler
    assert seen[signal.SIGTERM] is signal.default_int_handler
    assert callable(seen[signal.SIGHUP])
    assert before[signal.SIGINT] == signal.SIG_IGN
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_sigint_interrupts_a_task_even_when_it_was_inherited_ignored(sigint_ignored, capsys):
    @ghost_task()
    def waits(c):
        signal.raise_signal(signal.SIGINT)
        time.sleep(5)

    with pytest.raises(Exit) as ended:
        waits(Context())
    assert ended.value.code == EXIT_INTERRUPTED
    assert capsys.readouterr().err.startswith("interrupted: the deploy lock was released")


def test_a_system_exit_in_a_task_is_an_abort_with_exit_1_never_unexpected(capsys):
    @ghost_task()
    def exits(c):
        raise SystemExit(1)

    with pytest.raises(Exit) as ended:
        exits(Context())
    assert ended.value.code == 1
    error, hint = capsys.readouterr().err.splitlines()
    assert error.startswith("error: aborted: SystemExit(1) ended the task") and "unexpected" not in error
    assert hint.startswith("next: the full traceback is in ")


def test_sighup_silences_the_terminal_and_the_task_goes_on_to_its_end(tmp_path):
    script = """
import os, signal, sys
from invoke import Context
from ghosttasks.terminal.output import Output
from ghosttasks.tasks.runtime import ghost_task

@ghost_task()
def deploy(c):
    out = Output()
    out.info("before the hangup")
    signal.raise_signal(signal.SIGHUP)
    out.info("after the hangup")
    print("after the hangup, on stderr", file=sys.stderr)
    return "finished"

result = deploy(Context())
with open(sys.argv[1], "w") as done:
    done.write(result)
"""
    terminal, device = os.openpty()
    process = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "done")],
        stdin=subprocess.DEVNULL,
        stdout=device,
        stderr=device,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    os.close(device)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert process.returncode == 0
    assert (tmp_path / "done").read_text() == "finished"
    assert b"before the hangup" in shown and b"after the hangup" not in shown
