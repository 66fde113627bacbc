"""Golden dry-run plans with workers configured (a consumer on both app hosts, a scheduler on app1): each flow that
moves traffic hands the workers over after its switch, stops before starts, and says so; compared exactly.

Regenerate with `pytest tests/unit/test_worker_flows.py --regen-plans` and review the diff.
"""

import re
from pathlib import Path

import pytest
import yaml

from ghosttasks import testing
from ghosttasks.domain.errors import OperationFailed

PLANS = Path(__file__).parent / "plans"

CASES = {
    "workers-deploy-prod": ["deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"],
    "workers-traffic-switch": ["traffic.switch", "blue", "--dry-run", "--yes"],
    "workers-deploy-rollback": ["deploy.rollback", "--dry-run", "--yes"],
    "workers-deploy-emergency-rollback": ["deploy.emergency-rollback", "--reason", "p95 over 5 s", "--dry-run"],
    "workers-stack-restart-serving": ["stack.restart", "api", "--dry-run", "--yes"],
}
WORKERS = {
    "worker": {"stop_signal": "SIGTERM", "stop_timeout": 10},
    "scheduler": {"kind": "singleton", "stop_signal": "SIGINT", "stop_timeout": 5},
}


@pytest.fixture
def workers_inventory(monkeypatch, tmp_path):
    data = yaml.safe_load(testing.SHIPPED_INVENTORY.read_text())
    app = data["environments"]["prod"]["app"]
    app["color_services"] = [*app["color_services"], *WORKERS]
    app["workers"] = WORKERS
    app["queue_keys"] = ["ghostworks:jobs"]
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("GHOST_INVENTORY", str(path))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_worker_plan(request, inv, workers_inventory, name):
    code, out, err = inv(*CASES[name])
    assert code == 0, err
    golden = PLANS / f"{name}.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()


def _lines(plan: str) -> list[str]:
    return plan.splitlines()


@pytest.mark.parametrize("name", sorted(CASES))
def test_workers_move_after_the_switch_stops_before_starts(inv, workers_inventory, name):
    _, plan, _ = inv(*CASES[name])
    lines = _lines(plan)

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    def last(fragment: str) -> int:
        return max(i for i, line in enumerate(lines) if fragment in line)

    handover = first("== hand over workers")
    assert first("/var/lib/ghosttasks/ghostworks-active") < handover
    assert last("docker kill -s SIGINT") < first("up -d --no-deps worker") < first("up -d --no-deps scheduler")
    assert first("docker kill -s SIGINT") < first("docker kill -s SIGTERM")


def test_deploy_starts_no_worker_before_the_switch(inv, workers_inventory):
    _, plan, _ = inv(*CASES["workers-deploy-prod"])
    before = plan.split("== switch traffic")[0]
    assert "up -d --no-deps --force-recreate api web\n" in before
    assert "up -d --no-deps worker" not in before and "--force-recreate api web worker" not in before
    assert "compose.service=worker " in before.split("== clear blue's workers")[1].split("== start blue")[0]


def _workers_env(tmp_path):
    from ghosttasks.config.inventory import load_inventory

    data = yaml.safe_load(testing.SHIPPED_INVENTORY.read_text())
    app = data["environments"]["prod"]["app"]
    app["color_services"] = [*app["color_services"], *WORKERS]
    app["workers"] = WORKERS
    app["queue_keys"] = ["ghostworks:jobs"]
    path = tmp_path / "workers-hosts.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_inventory(path).env("prod")


def test_a_worker_killed_after_its_timeout_is_said_as_a_warning(tmp_path):
    from ghosttasks.domain.deploy_state import ColorState, DeployState
    from ghosttasks.flows.steps.workers import hand_over

    executor = testing.ScriptedExecutor(_workers_env(tmp_path), unscripted="assume")
    executor.on("compose.service=worker ", "killed\n/ghostworks-green-worker-1 137\n", host="app2")
    run = testing.a_run(executor, task="traffic.switch")
    state = DeployState(active="blue", colors={"blue": ColorState("v1.0.0"), "green": ColorState("v1.1.0")})
    plan = hand_over(run, state, "traffic.switch", "blue", "v1.0.0")
    assert plan is not None and plan.runs == "blue"
    printed = run.out.printed
    assert "app2: green worker killed: no exit within 10 s of SIGTERM (exit 137)" in printed
    assert "app1: green worker stopped on SIGTERM (exit 0)" in printed
    started = [c.command for c in executor.commands if " up -d " in c.command]
    assert [c.split(" up -d ")[1] for c in started] == ["--no-deps worker", "--no-deps worker", "--no-deps scheduler"]
    assert all("/srv/ghostworks-releases/v1.0.0 " in c and "-p ghostworks-blue " in c for c in started)


def test_the_automatic_rollback_moves_the_workers_back(tmp_path):
    from ghosttasks.decisions.triggers import Trigger
    from ghosttasks.domain.deploy_state import ColorState, DeployState
    from ghosttasks.flows.steps.monitor import roll_back_to_previous
    from ghosttasks.records.state_store import Store

    executor = testing.ScriptedExecutor(_workers_env(tmp_path), unscripted="assume")
    run = testing.a_run(executor)
    state = DeployState(
        active="green", previous="blue", colors={"blue": ColorState("v1.0.0"), "green": ColorState("v1.1.0")}
    )
    roll_back_to_previous(run, Store(run), state, Trigger("error rate", "35%", "10%"))
    commands = [c.command for c in executor.commands]
    flip = next(i for i, c in enumerate(commands) if "ghostworks-active" in c)
    stops = [i for i, c in enumerate(commands) if "project=ghostworks-green " in c and "ids=$(docker ps -q" in c]
    starts = [i for i, c in enumerate(commands) if "-p ghostworks-blue" in c and " up -d --no-deps " in c]
    assert len(stops) == 3 and len(starts) == 3
    assert flip < min(stops) and max(stops) < min(starts)
    assert state.active == "blue" and state.colors["green"].failed_version == "v1.1.0"
    assert "workers run: blue" in run.out.printed


def _deploy(tmp_path, rules):
    from ghosttasks.flows.blue_green import deploy

    executor = testing.ScriptedExecutor(_workers_env(tmp_path), dry_run=True, unscripted="assume")
    for match, (stdout, stderr, code) in rules:
        executor.on(match, stdout, stderr, code)
    run = testing.a_run(executor)
    with pytest.raises(OperationFailed) as failed:
        deploy(run, "v1.2.0", monitor_minutes=0)
    return [c.command for c in executor.commands], str(failed.value)


def test_a_deploy_failing_before_the_switch_never_touches_the_serving_colours_workers(tmp_path):
    commands, failure = _deploy(tmp_path, [("api alembic upgrade c3c3c3c3c3c3", ("", "boom", 1))])
    assert "migrate database" in failure
    assert not [c for c in commands if "ghostworks-green " in c and ("ids=$(docker ps -q" in c or " up -d" in c)]
    assert not [c for c in commands if " up -d --no-deps worker" in c or " up -d --no-deps scheduler" in c]
    leftovers = [c for c in commands if "project=ghostworks-blue " in c and "ids=$(docker ps -q" in c]
    assert len(leftovers) == 3  # leftovers cleared


def test_a_handover_failing_half_way_hands_the_workers_back(tmp_path):
    blue_scheduler = re.compile(r"-p ghostworks-blue .* up -d --no-deps scheduler")
    commands, failure = _deploy(tmp_path, rules=[(blue_scheduler, ("", "no such image", 1))])
    assert "start blue scheduler failed" in failure
    starts = [c for c in commands if " up -d --no-deps " in c and "--force-recreate" not in c]
    # blue's workers started, its scheduler failed; then blue stopped again and green's started back
    assert [("blue" if "ghostworks-blue" in c else "green", c.split(" --no-deps ")[1]) for c in starts] == [
        ("blue", "worker"),
        ("blue", "worker"),
        ("blue", "scheduler"),
        ("green", "worker"),
        ("green", "worker"),
        ("green", "scheduler"),
    ]
    assert "/srv/ghostworks-releases/v1.1.0 " in starts[-1]


def test_the_emergency_rollback_says_so_when_a_worker_move_fails(tmp_path, monkeypatch):
    from ghosttasks.flows.emergency import emergency_rollback

    monkeypatch.setenv("GHOST_INVENTORY", str(tmp_path / "workers-hosts.yml"))
    executor = testing.ScriptedExecutor(_workers_env(tmp_path), dry_run=True, unscripted="assume")
    executor.on("compose.service=scheduler ", "Error response from daemon\n")
    run = testing.a_run(executor, task="deploy.emergency-rollback")
    state = emergency_rollback(run, reason="p95 over 5 s")
    assert state.active == "blue"
    assert (
        "workers not moved: stop green scheduler: unexpected worker stop output: 'Error response from daemon'; "
        "when the app hosts answer: inv traffic.switch blue"
    ) in run.out.printed


def test_a_run_counts_its_elapsed_time_by_its_clock_and_a_dry_run_none(tmp_path):
    env = _workers_env(tmp_path)
    run = testing.a_run(testing.ScriptedExecutor(env))
    run.started, run.clock = 1000.0, lambda: 1028.5
    assert run.elapsed() == 28.5
    plan = testing.a_run(testing.ScriptedExecutor(env, dry_run=True))
    plan.started, plan.clock = 1000.0, lambda: 1028.5
    assert plan.elapsed() == 0.0


@pytest.mark.parametrize(
    ("elapsed", "said"),
    [
        (2.0, "time budget: 28 s left; the workers' stops take up to 25 s"),
        (
            8.4,
            "workers not moved: their stop takes up to 25 s, the emergency budget has 21 s left; green's workers may "
            "still run — run `inv traffic.switch blue` to hand them over",
        ),
    ],
)
def test_the_emergency_moves_the_workers_only_within_what_is_left_of_its_budget(tmp_path, elapsed, said):
    from ghosttasks.domain.deploy_state import ColorState, DeployState
    from ghosttasks.flows.emergency import move_workers

    executor = testing.ScriptedExecutor(_workers_env(tmp_path), unscripted="assume")
    run = testing.a_run(executor, task="deploy.emergency-rollback")
    state = DeployState(active="blue", colors={"blue": ColorState("v1.0.0"), "green": ColorState("v1.1.0")})
    move_workers(run, state, "blue", "v1.0.0", elapsed=elapsed)
    assert said in run.out.printed
    moved = [c.command for c in executor.commands if "compose.service=worker " in c.command or " up -d " in c.command]
    moved += [c.command for c in executor.commands if "compose.service=scheduler " in c.command]
    assert (len(moved) == 6) == (elapsed < 5)
