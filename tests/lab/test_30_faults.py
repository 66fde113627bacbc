"""The fault matrix: each a real fault in a real component, and what the user gets.

For each: exit non-zero with a message naming the failing step and what to do next; the previous
colour keeps serving through the LB (a load loop on new connections sees no failed request, where
the fault is before the switch); the lock is released (or held on purpose); the history records it.
(Fault 1, a tag that never becomes healthy, is in test_10_prod_flow.)

Only what a fault examines is run: one deploy serves both the five-at-once drill and the closed stdout (8 and 7b),
and the error-rate drill reads the shortest rate window the lab's 2 s scrape interval allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from lab.releases import ALEMBIC_HEADS
from tests.lab.conftest import ROOT
from tests.lab.world import GREEN_V110, HeldLock, bring_to, docker, lb_answers, psql

NO_MONITOR = ("--monitor-minutes", "0", "--yes")


def stop_sshd(lab, host: str) -> None:
    """Stop one lab host's sshd and every session under it: the host is unreachable over SSH."""
    listener = int(lab.pid_file(f"sshd-{host}").read_text())
    children = [pid for pid in _pids() if _parent(pid) == listener]
    for pid in [listener, *children]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in [listener, *children]):
        time.sleep(0.1)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def restart_lab() -> None:
    from lab import labctl

    labctl.up(quiet=True)


def background_deploy(inv, *args: str, env: dict | None = None, ignore_sigint: bool = False) -> subprocess.Popen:
    """deploy.prod in the background (see Inv.background)."""
    return inv.background("deploy.prod", *args, env=env, ignore_sigint=ignore_sigint)


def wait_for_line(process: subprocess.Popen, fragment: str, timeout: float = 300) -> list[str]:
    """Read the process's output until a line contains `fragment`; returns the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if fragment in line:
            return lines
    raise AssertionError(f"never saw {fragment!r}; output so far:\n{''.join(lines)}")


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    print(out, err)
    return process.returncode, out, err


def lab_inventory_variant(tmp_path, change) -> dict:
    """A copy of lab/hosts.yml changed by `change`; returns the env to select it."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    change(data["environments"]["prod"])
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(path)}


def last_run(inv) -> dict:
    return inv.json("deploy.history", "--limit", "1")[-1]


@pytest.fixture(scope="module", autouse=True)
def green_serves_v110(lab, inv):
    """Every fault starts from green serving v1.1.0 with blue holding v1.0.0."""
    bring_to(lab, inv, GREEN_V110)


def assert_green_kept_serving(inv, load) -> None:
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {("green", "v1.1.0")}
    assert set(lb_answers(10)) == {("green", "v1.1.0")}
    assert inv.json("deploy.status")["lock"] is None


def test_4_nginx_rejects_the_new_upstream_and_the_old_file_is_restored(lab, inv, tmp_path, load_loop):
    broken = tmp_path / "nginx-broken.conf"
    broken.write_text(
        lab.nginx_conf.read_text().replace(
            "http {", "http {\n    upstream ghostworks_api_blue { server 127.0.0.1:9; }", 1
        )
    )
    env = lab_inventory_variant(tmp_path, lambda prod: prod["lb"].update(nginx_conf=str(broken)))
    # A hand edit makes the live config differ from the rendered one: the switch must reinstall it.
    lab.upstream_path.write_text(lab.upstream_path.read_text() + "# edited by hand\n")
    live_before = lab.upstream_path.read_text()
    with load_loop() as load:
        result = inv("traffic.switch", "blue", "--yes", env=env)
    assert result.returncode == 1
    assert "step 'switch traffic' failed: nginx -t rejected the new LB config on lb" in result.stderr
    assert "the previous files were restored" in result.stderr
    assert lab.upstream_path.read_text() == live_before
    assert (lab.lb_state_dir / "ghostworks-active-green").exists(), "the flag is back on green"
    assert_green_kept_serving(inv, load)
    assert last_run(inv)["failed_step"] == "switch traffic"


def test_2_migration_fails(lab, inv, load_loop):
    with load_loop() as load:
        result = inv("deploy.prod", "--version", "v1.2.0-badmigration", *NO_MONITOR)
    assert result.returncode == 1
    assert "step 'migrate database' failed: alembic upgrade failed: [app1]" in result.stderr
    assert psql(lab, "SELECT version_num FROM alembic_version") == ALEMBIC_HEADS["v1.1.0"]
    assert_green_kept_serving(inv, load)
    run = last_run(inv)
    assert (run["result"], run["failed_step"]) == ("failed", "migrate database")


def test_3_backup_fails(lab, inv, load_loop):
    with HeldLock(lab, "artifacts", "ACCESS EXCLUSIVE", seconds=120):  # pg_dump cannot read the table
        before = sorted(lab.backup_dir("db").glob("*.dump"))
        with load_loop() as load:
            result = inv("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert result.returncode == 1
    assert "step 'backup database' failed: pg_dump failed: [db]" in result.stderr
    assert "lock table" in result.stderr.lower()  # pg_dump's own reason: it could not get its table lock in time
    assert sorted(lab.backup_dir("db").glob("*.dump")) == before
    assert not list(lab.backup_dir("db").glob("*.partial"))
    assert_green_kept_serving(inv, load)
    assert last_run(inv)["failed_step"] == "backup database"


def test_5_app_host_sshd_stopped_mid_deploy(lab, inv, load_loop):
    try:
        with load_loop() as load:
            process = background_deploy(inv, "--version", "v1.0.0", *NO_MONITOR)
            wait_for_line(process, "==> fetch and build")
            stop_sshd(lab, "app2")
            code, _, err = finish(process)
        assert code == 1
        assert "app2" in err and "failed" in err
        assert_green_kept_serving(inv, load)
        run = last_run(inv)
        assert run["result"] == "failed" and run["failed_step"] in ("fetch and build", "start blue")
    finally:
        restart_lab()


def test_6_lb_unreachable_before_the_switch(lab, inv, load_loop):
    try:
        with load_loop() as load:
            process = background_deploy(inv, "--version", "v1.0.0", *NO_MONITOR)
            wait_for_line(process, "==> health check blue")
            stop_sshd(lab, "lb")
            code, out, err = finish(process)
        assert code == 1
        assert "lb" in err
        assert "could not release the deploy lock on lb" in out
        assert "ghost deploy.unlock --env prod --force" in out
        assert load.failures == [] and set(load.answers) == {("green", "v1.1.0")}
    finally:
        restart_lab()
    holder = inv.json("deploy.status")["lock"]
    assert holder and holder["task"] == "deploy.prod" and holder["version"] == "v1.0.0"
    refused = inv("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert refused.returncode == 3 and "ghost deploy.unlock --env prod --force" in refused.stderr
    inv.ok("deploy.unlock", "--force")
    assert set(lb_answers(10)) == {("green", "v1.1.0")}


def test_7_sigint_during_the_health_wait(lab, inv, load_loop):
    with load_loop() as load:
        process = background_deploy(
            inv, "--version", "v1.2.0-unhealthy", "--health-timeout", "300", *NO_MONITOR, ignore_sigint=True
        )
        wait_for_line(process, "==> health check blue")
        time.sleep(2)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process, timeout=60)
        stopped_in = time.monotonic() - started
    assert code == 130 and stopped_in < 15
    assert "interrupted: the deploy lock was released" in err
    assert_green_kept_serving(inv, load)
    run = last_run(inv)
    assert (run["result"], run["failed_step"]) == ("interrupted", "health check blue")


def first_stdout_line(processes: list[subprocess.Popen], timeout: float = 300) -> tuple[subprocess.Popen, str]:
    """The first line any of `processes` writes to its stdout, and which one wrote it (one that ends without a line
    is passed over)."""
    waiting = {process.stdout: process for process in processes}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [], 1)
        for stream in ready:
            line = stream.readline()
            if line:
                return waiting[stream], line
            del waiting[stream]  # ended with nothing on stdout
    raise AssertionError("no deploy wrote a line to its stdout")


def test_8_five_deploys_at_once_exactly_one_runs_to_its_end_with_its_stdout_closed(lab, inv):
    """Five deploys at once: one takes the lock, the four others are refused naming it. Every one's stdout is
    closed after the first line any of them writes (`inv deploy.prod ... | head -1`): the terminal output of the
    one that runs goes quiet, and it goes on to its end (Fault 7b and Fault 8 share the deploy)."""
    processes = [background_deploy(inv, "--version", "v1.0.0", *NO_MONITOR) for _ in range(5)]
    writer, first = first_stdout_line(processes)
    for process in processes:
        process.stdout.close()
    results = [(process, process.stderr.read(), process.wait(timeout=300)) for process in processes]
    for _, err, code in results:
        print(code, err)
    assert sorted(code for _, _, code in results) == [0, 3, 3, 3, 3], results
    for process, err, code in results:
        if code == 3:
            assert "prod is locked by another deploy: deploy.prod v1.0.0 by" in err
            assert "If that run is gone: ghost deploy.unlock --env prod --force" in err
        else:
            assert process is writer, "the refused deploys print nothing on stdout"
            assert "unexpected" not in err and "Traceback" not in err
    assert set(lb_answers(10)) == {("blue", "v1.0.0")}
    assert inv.json("deploy.status")["lock"] is None
    run = last_run(inv)
    assert (run["result"], run["version"]) == ("ok", "v1.0.0")
    [log] = [path for path in inv.log_dir.iterdir() if run["run_id"] in path.name]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    shown = [event["line"] for event in events if event["event"] == "printed"]
    assert shown[0] == first.rstrip("\n") and "==> switch traffic" in shown
    inv.ok("traffic.switch", "green", "--yes")  # back to the module's starting point


def test_9_error_rate_triggers_automatic_rollback(lab, inv, load_loop, tmp_path):
    # v1.2.0-errors fails 30% of requests from 15 s after it starts: the shortest window the lab's 2 s scrape
    # interval allows (4 scrapes, rather than 20 s) sees the share cross 10% sooner after the errors begin.
    env = lab_inventory_variant(tmp_path, lambda prod: prod["monitoring"].update(rate_window="8s"))
    with load_loop(max_seconds=240) as load:
        result = inv("deploy.prod", "--version", "v1.2.0-errors", "--monitor-minutes", "2", "--yes", env=env)
    assert result.returncode == 1
    assert "automatic rollback: API error rate" in result.stderr
    assert "traffic is back on green (v1.1.0)" in result.stderr
    assert set(lb_answers(10)) == {("green", "v1.1.0")}
    run = last_run(inv)
    assert run["result"] == "rolled_back" and run["trigger"].startswith("API error rate")
    assert load.answers.get(("blue", "v1.2.0-errors"))  # it did serve before the trigger
    events = httpx.get("http://127.0.0.15:8080/events", timeout=5).json()
    assert any(event["body"].get("event") == "rollback.automatic" for event in events)


def test_10_p95_over_two_seconds_triggers_automatic_rollback(lab, inv, tmp_path):
    # Without smoke users the slow version reaches the switch (the smoke latency check would stop it first).
    env = lab_inventory_variant(tmp_path, lambda prod: prod.pop("smoke"))
    result = inv("deploy.prod", "--version", "v1.2.0-slow", "--monitor-minutes", "2", "--yes", env=env)
    assert result.returncode == 1
    assert "automatic rollback: response time p95" in result.stderr
    assert set(lb_answers(10)) == {("green", "v1.1.0")}
    assert last_run(inv)["result"] == "rolled_back"


def test_11_database_stopped_after_the_switch(lab, inv):
    # blue v1.0.0 serving, green v1.1.0 idle: a deploy, as blue holds the failed drills of test_9 and test_10
    inv.ok("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    process = background_deploy(inv, "--version", "v1.1.0", "--monitor-minutes", "2", "--yes")
    try:
        wait_for_line(process, "==> monitor")
        docker(lab, "db", "stop", "ghostworks-postgres-1")
        code, _, err = finish(process)
    finally:
        docker(lab, "db", "start", "ghostworks-postgres-1")
    assert code == 1
    assert "automatic rollback: database connection failures" in err
    assert inv.json("deploy.status")["active"] == "blue"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(lb_answers(3)) != {("blue", "v1.0.0")}:
        time.sleep(0.2)
    inv.ok("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)  # back to green v1.1.0


def test_12_emergency_rollback_with_both_app_hosts_unreachable(lab, inv):
    httpx.delete("http://127.0.0.15:8080/events", timeout=5)
    try:
        stop_sshd(lab, "app1")
        stop_sshd(lab, "app2")
        started = time.monotonic()
        result = inv("deploy.emergency-rollback", "--reason", "error spike after v1.1.0")
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert set(lb_answers(10)) == {("blue", "v1.0.0")}
        print(f"emergency rollback: {elapsed:.2f} s for the whole command")
        assert elapsed < 30
    finally:
        restart_lab()
    frozen = inv("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    assert frozen.returncode == 3 and "frozen (emergency rollback)" in frozen.stderr
    events = httpx.get("http://127.0.0.15:8080/events", timeout=5).json()
    kinds = {(event["path"], event["body"].get("event")) for event in events}
    assert ("/deployments", "rollback.emergency") in kinds and ("/incidents", "incident.open") in kinds
    assert inv("deploy.unlock").returncode == 3  # a freeze is lifted only with --force
    inv.ok("deploy.unlock", "--force")
