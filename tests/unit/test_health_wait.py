"""Waiting for a colour: every host and service at once, under one deadline, each retry line named."""

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Probe
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.terminal.output import Output
from ghosttasks.testing import CapturedOutput, a_run

ROOT = Path(__file__).resolve().parents[2]
APP1_API = "http://app1.internal.ghostworks.dev:8001/api/v1/health"
APP2_API = "http://app2.internal.ghostworks.dev:8001/api/v1/health"
APP2_WEB = "http://app2.internal.ghostworks.dev:3001/api/health"


@pytest.fixture
def run(prod):
    """A real (not dry) run whose probes call the check; no host is ever connected to here."""
    out = CapturedOutput()
    return a_run(SSHExecutor(prod, out), task="verify.health", out=out)


def answers(by_url):
    """A check_health stand-in: by_url maps a URL to a function of the seconds since the wait began."""
    started = time.monotonic()
    calls = []

    def check_health(url, *, expect_version=None, timeout=5.0, client=None, contract=None):
        calls.append((url, time.monotonic() - started, timeout))
        healthy = by_url.get(url, lambda elapsed: True)(time.monotonic() - started)
        if healthy:
            return probes.Health(url, True, 200, {"status": "ok", "version": expect_version})
        return probes.Health(url, False, 503, {"status": "error"}, error="HTTP 503 status error")

    return check_health, calls


def never(elapsed):
    return False


def test_all_hosts_and_services_share_one_deadline(run, monkeypatch):
    check, calls = answers(dict.fromkeys([APP1_API, APP2_API, APP2_WEB], never))
    monkeypatch.setattr(probes, "check_health", check)
    started = time.monotonic()
    with pytest.raises(OperationFailed) as failure:
        wait_for_color(run, "blue", "v1.2.0", deadline=1)
    waited = time.monotonic() - started
    assert 1 <= waited < 1.8, "three never-healthy URLs probed one after another would take 3 s"
    assert str(failure.value) == (
        "blue never became healthy within 1 s (waited 1 s): app1 api: HTTP 503 status error; "
        "app2 api: HTTP 503 status error; app2 web: HTTP 503 status error"
    )
    assert failure.value.hint == "see its logs: inv stack.logs api --color blue"
    assert {url for url, _, _ in calls} == {APP1_API, APP2_API, APP2_WEB, APP1_API.replace("8001/api/v1", "3001/api")}
    first = {url: min(at for called, at, _ in calls if called == url) for url, _, _ in calls}
    assert max(first.values()) < 0.3, "every URL gets its first attempt at once"


def test_each_retry_line_names_host_service_and_url(run, monkeypatch):
    check, _ = answers({APP2_API: lambda elapsed: elapsed > 0.6})
    monkeypatch.setattr(probes, "check_health", check)
    wait_for_color(run, "blue", "v1.2.0", deadline=5)
    printed = run.out.printed
    assert re.search(
        rf"^app2 api {re.escape(APP2_API)}: attempt 1: HTTP 503 status error \(retrying in \d+\.\d s\)$",
        printed,
        re.MULTILINE,
    )
    assert "app1 api" not in printed.replace("ok   app1 api: healthy", "")
    for name in ("app1 api", "app1 web", "app2 api", "app2 web"):
        assert f"ok   {name}: healthy after" in printed


def test_no_backoff_sleeps_past_the_deadline_and_the_last_request_is_cut_short(monkeypatch):
    check, calls = answers({APP1_API: never})
    monkeypatch.setattr(probes, "check_health", check)
    policy = probes.RetryPolicy(deadline=0.6, initial=0.4, maximum=5)
    health = probes.wait_healthy(APP1_API, policy=policy)
    assert not health.ok and health.attempts == len(calls) >= 2
    assert 0.59 <= calls[-1][1] < 0.75, "the last attempt is made at the deadline, not before or long after"
    assert health.elapsed < 0.8
    assert all(timeout == probes.MIN_REQUEST_TIMEOUT for _, _, timeout in calls)


def test_setting_cancel_ends_a_wait_at_once(monkeypatch):
    check, _ = answers({APP1_API: never})
    monkeypatch.setattr(probes, "check_health", check)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    health = probes.wait_healthy(APP1_API, policy=probes.RetryPolicy(deadline=30, initial=1, maximum=1), cancel=cancel)
    assert not health.ok and time.monotonic() - started < 1


class Interrupted(Exception):
    pass


def test_an_interrupt_does_not_wait_for_the_probes_and_stops_them(run, monkeypatch):
    check, calls = answers(dict.fromkeys([APP1_API, APP2_API, APP2_WEB], never))
    monkeypatch.setattr(probes, "check_health", check)

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()  # as Ctrl-C: to the process
        started = time.monotonic()
        with pytest.raises(Interrupted):
            wait_for_color(run, "blue", "v1.2.0", deadline=30)
        assert time.monotonic() - started < 1
    finally:
        signal.signal(signal.SIGUSR1, previous)
    time.sleep(0.2)
    seen = len(calls)
    time.sleep(1.2)
    assert len(calls) == seen, "the probe threads stopped retrying"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("probe")]


def test_a_dry_run_records_one_probe_line_per_url_in_order_and_calls_nothing(prod):
    out = Output(silent=True)
    recorder = PlanRecorder(prod, out)
    run = a_run(recorder, task="verify.health", out=out)
    wait_for_color(run, "blue", "v1.2.0", deadline=180)
    assert recorder.entries == [
        f"probe GET {url} via SSH (bastion.ghostworks.dev) until HTTP 200, status ok, version v1.2.0"
        for url in (APP1_API, APP1_API.replace("8001/api/v1", "3001/api"), APP2_API, APP2_WEB)
    ]


def test_probe_all_keeps_the_order_and_runs_at_once(prod):
    executor = SSHExecutor(prod, Output(silent=True))

    def slow(value, seconds):
        time.sleep(seconds)
        return value

    started = time.monotonic()
    results = executor.probe_all(
        [Probe(f"p{n}", lambda n=n: slow(n, 0.3 - n * 0.1), None) for n in range(3)],
    )
    assert results == [0, 1, 2] and time.monotonic() - started < 0.5
