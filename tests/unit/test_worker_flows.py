"""Golden dry-run plans with workers configured (a consumer on both app hosts, a scheduler on app1): each flow that
moves traffic hands the workers over after its switch, stops before starts, and says so; compared exactly.

Regenerate with `pytest tests/unit/test_worker_flows.py --regen-plans` and review the diff.
"""

from pathlib import Path

import pytest
import yaml

from ghosttasks import testing

PLANS = Path(__file__).parent / "plans"

CASES = {
    "workers-deploy-prod": ["deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"],
    "workers-traffic-switch": ["traffic.switch", "blue", "--dry-run", "--yes"],
    "workers-deploy-rollback": ["deploy.rollback", "--dry-run", "--yes"],
    "workers-deploy-emergency-rollback": ["deploy.emergency-rollback", "--reason", "p95 over 5 s", "--dry-run"],
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
    assert "ps -q worker" in before.split("== clear blue's workers")[1].split("== start blue")[0]
