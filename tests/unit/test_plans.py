"""Golden dry-run plans against the shipped hosts.yml, compared exactly.

Regenerate with `pytest tests/unit/test_plans.py --regen-plans` and review the diff.
"""

from pathlib import Path

import pytest

PLANS = Path(__file__).parent / "plans"

CASES = {
    "deploy-prod": ["deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes"],
    "deploy-staging": ["deploy.staging", "--ref", "main", "--dry-run"],
    "deploy-dev": ["deploy.dev", "--dry-run"],
    "traffic-switch": ["traffic.switch", "blue", "--dry-run", "--yes"],
    "deploy-prod-canary": ["deploy.prod", "--version", "v1.2.0", "--canary", "5,25,50", "--dry-run", "--yes"],
    "traffic-canary": ["traffic.canary", "25", "--dry-run", "--yes"],
    "traffic-canary-end": ["traffic.canary", "0", "--dry-run", "--yes"],
    "traffic-install": ["traffic.install", "--dry-run", "--yes"],
    "db-downgrade": ["db.downgrade", "-r", "-1", "--force", "--dry-run", "--yes"],
    "deploy-rollback": ["deploy.rollback", "--dry-run", "--yes"],
    "deploy-rollback-to": ["deploy.rollback", "--to", "v0.9.0", "--dry-run", "--yes"],
    "deploy-emergency-rollback": ["deploy.emergency-rollback", "--reason", "p95 over 5 s", "--dry-run"],
    "db-activity": ["db.activity", "--dry-run"],
    "db-slow": ["db.slow", "--limit", "5", "--dry-run"],
    "stack-memory": ["stack.memory", "--minutes", "1", "--interval", "20", "--dry-run"],
    "stack-restart-serving": ["stack.restart", "api", "--dry-run", "--yes"],
    "stack-restart-idle": ["stack.restart", "web", "--color", "blue", "--dry-run", "--yes"],
    "stack-restart-shared": ["stack.restart", "redis", "--dry-run"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_plan(request, inv, name):
    code, out, err = inv(*CASES[name])
    assert code == 0, err
    golden = PLANS / f"{name}.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()


def test_invoke_core_dry_flag_gives_the_same_plan(inv):
    _, with_flag, _ = inv("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes")
    _, with_core, _ = inv("--dry", "deploy.prod", "--version", "v1.2.0", "--yes")
    assert with_core == with_flag


def test_prod_plan_is_in_the_runbook_safe_order(inv):
    _, plan, _ = inv(*CASES["deploy-prod"])
    lines = plan.splitlines()

    def first(fragment):
        return next(i for i, line in enumerate(lines) if fragment in line)

    lock = first('mv -T "$t" /var/lib/ghosttasks/lock')
    assert lock < first("uname -n")
    assert first("pg_dump") < first("pg_restore --list") < first("up -d --no-deps --force-recreate api web")
    assert (
        first("up -d --no-deps --force-recreate api web")
        < first("alembic upgrade c3c3c3c3c3c3")
        < first("probe GET http://app1")
    )
    # before anything changes: sudo -n on the LB and Docker on every app and db host, all at once
    assert lock < first("sudo -n /usr/bin/true") < first("git ") < first("pg_dump")
    assert first("uname -n") < first("sudo -n /usr/bin/true") < first("[db1] $ u=$(id -un); if e=$(docker version")
    # the switch: the LB config is current (the dry run assumes so), so only the selector's flag changes
    assert first("probe GET http://app1") < first("cat /etc/nginx/conf.d/ghostworks-upstream.conf")
    assert first("cat /etc/nginx/conf.d/ghostworks-upstream.conf") < first(
        "rm -f /var/lib/ghosttasks/ghostworks-active"
    )
    assert first("rm -f /var/lib/ghosttasks/ghostworks-active-green") < first("probe GET https://api.ghostworks.dev")
    assert first("probe every 15 s") < first("history.jsonl") < first("rm -rf /var/lib/ghosttasks/lock")
    assert "green" not in plan.split("== start blue")[1].split("== migrate")[0]


@pytest.mark.parametrize("name", ["traffic-switch", "deploy-rollback", "deploy-emergency-rollback", "deploy-prod"])
def test_a_switch_reloads_nothing_when_the_lb_config_is_current(inv, name):
    """Only a change of hosts or ports touches nginx's config; a switch flips the selector's flag file."""
    _, plan, _ = inv(*CASES[name])
    ran = [line for line in plan.splitlines() if "$ " in line and "sudo -n -l" not in line]  # not the preflight
    assert not [
        line for line in ran if "nginx -s reload" in line or "nginx -t" in line or "upstream.conf.ghost" in line
    ]
    assert "ghostworks-active-green" in plan


#: The same commands against prod with a second LB (lb2): every LB read before any flag moves, both flipped,
#: each verified through its own address; state, history and the lock stay on lb1.
TWO_LB_CASES = {
    "two-lbs-traffic-switch": CASES["traffic-switch"],
    "two-lbs-deploy-prod": CASES["deploy-prod"],
    "two-lbs-deploy-emergency-rollback": CASES["deploy-emergency-rollback"],
    "two-lbs-traffic-install": CASES["traffic-install"],
}


@pytest.fixture
def two_lbs(tmp_path, monkeypatch):
    import yaml

    from ghosttasks import testing

    data = yaml.safe_load(testing.SHIPPED_INVENTORY.read_text())
    data["environments"]["prod"]["hosts"].insert(
        1, {"name": "lb2", "address": "lb2.internal.ghostworks.dev", "roles": ["lb"]}
    )
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("GHOST_INVENTORY", str(path))


@pytest.mark.parametrize("name", sorted(TWO_LB_CASES))
def test_golden_plan_with_two_lbs(request, inv, two_lbs, name):
    code, out, err = inv(*TWO_LB_CASES[name])
    assert code == 0, err
    golden = PLANS / f"{name}.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()


def test_two_lbs_are_both_read_before_either_flag_moves(inv, two_lbs):
    _, plan, _ = inv(*CASES["traffic-switch"])
    lines = plan.splitlines()
    reads = [i for i, line in enumerate(lines) if "echo '--- ghosttasks: end of file ---'" in line]
    flips = [i for i, line in enumerate(lines) if line.endswith("rm -f /var/lib/ghosttasks/ghostworks-active-green")]
    assert [lines[i][:5] for i in reads] == ["[lb1]", "[lb2]"] and [lines[i][:5] for i in flips] == ["[lb1]", "[lb2]"]
    assert max(reads) < min(flips)
    probes = [line for line in lines if line.startswith("probe GET https://lb")]
    assert [line.split()[2] for line in probes] == [
        "https://lb1.internal.ghostworks.dev/api/v1/health",
        "https://lb2.internal.ghostworks.dev/api/v1/health",
    ]
    lock = [line[:5] for line in lines if 'mv -T "$t" /var/lib/ghosttasks/lock' in line or "history.jsonl" in line]
    assert lock == ["[lb1]", "[lb1]"]  # the one lock and the history live on the state LB
