"""Every error is one clear line and a hint: unexpected exceptions, hints from parallel steps, bad flags."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Program

from ghosttasks.cli import GhostProgram, adopt
from ghosttasks.domain.errors import CommandFailed, OperationFailed
from ghosttasks.execution.executor import UNREACHABLE_EXIT, Result
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.records.state_store import Store
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod

ROOT = Path(__file__).resolve().parents[2]


def log_events(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# -- (a) an unexpected exception is one line, its traceback goes into the run log -----------------------


def test_an_unexpected_exception_is_one_line_and_its_traceback_is_in_the_run_log(inv, monkeypatch, tmp_path):
    def upload_refused(run, reason):
        raise PermissionError(13, "Permission denied", "/var/lib/ghosttasks/state.json")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", upload_refused)
    code, out, err = inv("deploy.lock", "--reason", "db maintenance")
    assert code == 1
    assert "Traceback" not in err and out == ""
    error, hint = err.strip().splitlines()
    assert error == "error: unexpected PermissionError: [Errno 13] Permission denied: '/var/lib/ghosttasks/state.json'"
    assert hint.startswith("next: the full traceback is in ")
    path = Path(hint.removeprefix("next: the full traceback is in "))
    assert path.parent == tmp_path / "runs" and "deploy-lock" in path.name
    assert list((tmp_path / "runs").iterdir()) == [path], "the traceback goes into the run's own log"
    [event] = [event for event in log_events(path) if event["event"] == "unexpected_error"]
    assert event["type"] == "PermissionError"
    assert event["traceback"].startswith("Traceback (most recent call last):")
    assert "in upload_refused" in event["traceback"]


def test_an_unexpected_exception_before_any_run_log_gets_a_log_of_its_own(inv, monkeypatch, tmp_path):
    def broken(run, *, reason):
        raise KeyError("colors")

    monkeypatch.setattr("ghosttasks.flows.emergency.emergency_rollback", broken)
    code, _, err = inv("deploy.emergency-rollback", "--reason", "p95", "--dry-run")
    assert code == 1
    error, hint = err.strip().splitlines()
    assert error == "error: unexpected KeyError: 'colors'"
    path = Path(hint.removeprefix("next: the full traceback is in "))
    assert path.exists() and "deploy-emergency-rollback" in path.name
    assert "KeyError: 'colors'" in log_events(path)[-1]["traceback"]


def test_a_multi_line_message_is_cut_to_its_first_line(inv, monkeypatch):
    def broken(run, reason):
        raise RuntimeError("first line\nsecond line\nthird")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", broken)
    code, _, err = inv("deploy.lock", "--reason", "x")
    assert code == 1 and err.splitlines()[0] == "error: unexpected RuntimeError: first line"


def test_secrets_in_an_unexpected_message_are_masked(inv, monkeypatch):
    def broken(run, reason):
        raise ValueError("DB_PASSWORD=hunter22 rejected")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", broken)
    _, _, err = inv("deploy.lock", "--reason", "x")
    assert "hunter22" not in err and "DB_PASSWORD=********" in err


def test_guarded_records_the_history_and_releases_the_lock_on_an_unexpected_exception():
    recorder = PlanRecorder(prod(), Output(silent=True))
    run = a_run(recorder, out=Output(silent=True))
    with pytest.raises(KeyError), guarded(run, Store(run), version="v1.2.0", reason="deploy v1.2.0"):
        raise KeyError("colors")
    [history] = [line for line in recorder.entries if "history.jsonl" in line]
    entry = json.loads(next(word for word in shlex.split(history.split("$ ", 1)[1]) if word.startswith("{")))
    assert (entry["result"], entry["error"]) == ("failed", "KeyError: 'colors'")
    assert recorder.entries[recorder.entries.index(history) + 1].endswith("then rm -rf /var/lib/ghosttasks/lock; fi")


# -- (b) a hint survives a parallel step --------------------------------------------------------------


def some_unreachable(refuse):
    """Hosts named in `refuse` cannot be connected to (the executor raises OperationFailed with a hint)."""
    executor = ScriptedExecutor(prod())
    for name, hint in refuse.items():

        def unreachable(call, hint=hint):
            raise OperationFailed(f"{call.host.name} is not in known_hosts: refusing an unknown host key", hint=hint)

        executor.on("", host=name, reply=unreachable)  # the empty fragment: every command
    return executor


def test_a_refused_hosts_hint_reaches_the_aggregated_error():
    trust = "to trust it: ssh-keyscan -p 22 app2.internal.ghostworks.dev >> ~/.ssh/known_hosts"
    executor = some_unreachable({"app2": trust})
    with pytest.raises(CommandFailed) as failure:
        executor.run_parallel(prod().app_hosts, "docker compose build", what="build")
    assert failure.value.hint == trust
    assert "build failed on 1 of 2 hosts (app2)" in str(failure.value)
    app1, app2 = failure.value.results
    assert app1.ok and app1.hint is None
    assert (app2.exit_code, app2.hint) == (UNREACHABLE_EXIT, trust)


def test_hints_of_several_hosts_are_all_kept_once_each():
    down = "check that the host is up and sshd is running"
    executor = some_unreachable({"app1": down, "app2": down, "db1": "to trust it: ssh-keyscan db1"})
    with pytest.raises(CommandFailed) as failure:
        executor.run_parallel([*prod().app_hosts, *[h for h in prod().hosts if h.name == "db1"]], "true")
    assert failure.value.hint == f"{down}; to trust it: ssh-keyscan db1"


def test_without_check_the_hint_is_on_the_result():
    executor = some_unreachable({"app1": "to trust it: x"})
    results = executor.run_parallel(prod().app_hosts, "true", check=False)
    assert [result.hint for result in results] == ["to trust it: x", None]


# -- (c) bad input on the command line exits 2 --------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "lines"),
    [
        (
            ["deploy.prod", "--version", "v1.0.0", "--bogus"],
            ["error: deploy.prod has no option --bogus", "next: see its options: inv --help deploy.prod"],
        ),
        (["deploy.prdo"], ["error: no task named 'deploy.prdo'", "next: see the tasks: inv --list"]),
        (["--help", "deploy.nope"], ["error: no task named 'deploy.nope'", "next: see the tasks: inv --list"]),
        (
            ["traffic.switch"],
            [
                "error: 'traffic.switch' did not receive required positional arguments: 'color'",
                "next: see its options: inv --help traffic.switch",
            ],
        ),
        (
            ["deploy.status", "--env"],
            ["error: --env needs a value", "next: see its options: inv --help deploy.status"],
        ),
    ],
)
def test_bad_flags_and_unknown_tasks_exit_2(inv, argv, lines):
    code, out, err = inv(*argv)
    assert (code, out, err.splitlines()) == (2, "", lines)


def test_the_real_inv_exits_2_on_an_unknown_flag():
    """`inv` is Invoke's own program; tasks.py makes it exit 2 (python -m invoke is the same program)."""
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "deploy.status", "--bogus"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: deploy.status has no option --bogus",
        "next: see its options: inv --help deploy.status",
    ]


def test_adopt_changes_only_a_plain_program():
    plain, other = Program(), type("FabLike", (Program,), {})()
    adopt(plain)
    adopt(other)
    assert type(plain) is GhostProgram and type(other).__name__ == "FabLike"


def test_a_failed_folded_command_prints_its_hosts_last_lines_under_the_error_masked(inv, monkeypatch):
    tail = ("#7 [api 2/3] COPY . /app", "#7 ERROR: DB_PASSWORD=hunter22 not found", "failed to solve: exit 1")

    def broken(run, reason):
        build = Result("app2", "docker compose build api", "", "", 1, 2.0, tail=tail)
        raise CommandFailed("build v1.1.0 images failed on 1 of 1 hosts (app2): ...", results=[build], hint="retry")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", broken)
    code, _, err = inv("deploy.lock", "--reason", "x")
    assert code == 1
    assert err.splitlines() == [
        "error: build v1.1.0 images failed on 1 of 1 hosts (app2): ...",
        "last 3 lines of app2's output:",
        "  #7 [api 2/3] COPY . /app",
        "  #7 ERROR: DB_PASSWORD=******** not found",
        "  failed to solve: exit 1",
        "next: retry",
    ]


def test_an_error_names_its_failing_step_once_whatever_its_message_says():
    error = OperationFailed("step counter broke")  # a message that merely starts with "step "
    error.in_step("migrate database")
    error.in_step("deploy")  # an outer guard: the step is already named
    assert (str(error), error.step) == ("step 'migrate database' failed: step counter broke", "migrate database")
