"""The production runbook end to end against the lab, in order: each test starts from where the last ended.

dry run -> v1.0.0 into blue -> v1.1.0 into green -> switches under load -> db tasks -> verify and stack
-> a never-healthy tag fails (green keeps serving) -> rollback to v1.0.0 with a database downgrade
-> a release whose health answers name no colour deploys into green (the LB's colour header says it).

The first deploy goes into blue on a lab nothing was deployed to: the module brings the lab down and up
again first when an earlier module (or run) deployed to it, and its tests only make sense run in file order.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime

import httpx
import pytest
import yaml

from lab.releases import ALEMBIC_HEADS
from tests.lab.world import direct_health, docker, lb_answers, nginx_dump, psql, served, sshd_connections

APP_ADDRESSES = {"app1": "127.0.0.11", "app2": "127.0.0.12"}
PORTS = {"blue": 8001, "green": 8002}
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
#: The shortest watch that still judges more than one reading: 3 s at the lab's 2 s interval (Prometheus' scrape).
SHORT_MONITOR = ("--monitor-minutes", "0.05", "--yes")


def create_artifacts(count: int) -> None:
    """Create artifacts through the LB as the demo tenant acme (the API a user would use)."""
    with httpx.Client(base_url="http://127.0.0.10", timeout=10) as client:
        login = {"tenant": "acme", "username": "admin", "password": "acme-demo-password"}
        token = client.post("/api/v1/auth/login", json=login).json()["access_token"]
        for number in range(count):
            artifact = {"name": f"restore-check-{number}", "content": "keep me"}
            created = client.post("/api/v1/artifacts", json=artifact, headers={"Authorization": f"Bearer {token}"})
            assert created.status_code == 201, created.text


def alembic_version(lab) -> str:
    return psql(lab, "SELECT version_num FROM alembic_version")


@pytest.fixture(scope="module")
def lab(fresh_lab):
    """This module's lab: a fresh one (every test here takes `lab`, and `inv` through it)."""
    return fresh_lab


def test_dry_run_opens_no_connection_and_changes_nothing(lab, inv):
    before = sshd_connections(lab)
    result = inv.ok("deploy.prod", "--version", "v1.0.0", "--dry-run", "--yes")
    assert "# plan for deploy.prod on prod" in result.stdout
    assert "docker compose -p ghostworks-blue" in result.stdout  # dry runs assume green is serving
    assert sshd_connections(lab) == before
    assert not (lab.lb_state_dir / "state.json").exists()
    assert not any(lab.releases_dir("app1").glob("*"))


def test_first_deploy_goes_into_blue(lab, inv):
    inv.ok("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert set(lb_answers()) == {("blue", "v1.0.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.0.0"]


def test_second_deploy_goes_into_green_after_a_verified_backup(lab, inv):
    result = inv.ok("deploy.prod", "--version", "v1.1.0", *SHORT_MONITOR)
    assert "no rollback trigger fired" in result.stdout

    backups = sorted(lab.backup_dir("db").glob("prod-v1.1.0-*.dump"))
    assert len(backups) == 1, backups
    dump = backups[0]
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert (dump.parent / (dump.name + ".sha256")).read_text().split()[0]
    started = docker(lab, "app1", "inspect", "-f", "{{.State.StartedAt}}", "ghostworks-green-api-1").stdout.strip()
    green_started = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00").timestamp()
    assert dump.stat().st_mtime <= green_started, "the backup must exist before green starts"

    assert alembic_version(lab) == ALEMBIC_HEADS["v1.1.0"]
    assert set(lb_answers()) == {("green", "v1.1.0")}
    # the colour that served, from the LB's own header (read here, not through ghosttasks), as nginx runs it
    assert set(served()) == {("green", "green", "v1.1.0")}
    assert "add_header X-Served-Color $ghostworks_color always;" in nginx_dump(lab)
    for address in APP_ADDRESSES.values():
        assert direct_health(address, PORTS["green"])["version"] == "v1.1.0"
        idle = direct_health(address, PORTS["blue"])
        assert (idle["status"], idle["version"], idle["color"]) == ("ok", "v1.0.0", "blue")
    upstream = lab.upstream_path.read_text()  # both colours, always; the flag file picks green per request
    assert all(f"{address}:{port}" in upstream for address in APP_ADDRESSES.values() for port in (8001, 8002))
    assert (lab.lb_state_dir / "ghostworks-active-green").exists()

    status, history = (
        json.loads(result.stdout)
        for result in inv.all_ok(("deploy.status", "--json"), ("deploy.history", "--limit", "1", "--json"))
    )
    assert status["active"] == "green" and status["previous"] == "blue"
    assert status["colors"]["green"]["version"] == "v1.1.0"
    assert status["colors"]["green"]["alembic_head"] == ALEMBIC_HEADS["v1.1.0"]
    assert status["colors"]["blue"]["version"] == "v1.0.0"
    assert status["lock"] is None and status["lb"]["color"] == "green"

    last = history[-1]
    assert (last["task"], last["version"], last["result"], last["color"]) == ("deploy.prod", "v1.1.0", "ok", "green")
    assert [step["name"] for step in last["steps"]][:7] == [
        "preflight",
        "fetch and build",
        "review migration",
        "backup database",
        "queue depth before the deploy",
        "clear green's workers",
        "start green",
    ]
    assert last["backup"] == str(dump)


def test_traffic_switch_both_ways_under_load(lab, inv, load_loop):
    with load_loop() as load:
        inv.ok("traffic.switch", "blue", "--yes")
        assert set(lb_answers()) == {("blue", "v1.0.0")}
        assert set(served()) == {("blue", "blue", "v1.0.0")}
        inv.ok("traffic.verify", "--color", "blue")
        inv.ok("traffic.switch", "green", "--yes")
        inv.ok("traffic.verify")
    assert load.requests > 50
    assert load.failures == []
    assert set(load.answers) == {("blue", "v1.0.0"), ("green", "v1.1.0")}
    status, wrong = inv.together(("traffic.status", "--json"), ("traffic.verify", "--color", "blue"))
    report = json.loads(status.stdout)
    assert report["active"] == "green" and report["lb"]["color"] == "green"
    assert report["sample"] == {"green v1.1.0": 10}
    assert wrong.returncode == 1


def test_db_tasks_against_the_real_database(lab, inv):
    head, middle, first = ALEMBIC_HEADS["v1.1.0"], ALEMBIC_HEADS["v1.0.0"], "0001a1b2c3d4"
    current, history = inv.all_ok(("db.current",), ("db.history",))  # both only read
    assert head in current.stdout
    assert all(revision in history.stdout for revision in (first, middle, head))
    backups_before = set(lab.backup_dir("db").glob("*.dump"))
    refused = inv("db.downgrade", "-r", "-1", "--yes")  # v1.1.0 serves and needs the head: refused first
    assert refused.returncode == 1 and "v1.1.0 serves on green" in refused.stderr
    assert alembic_version(lab) == head and set(lab.backup_dir("db").glob("*.dump")) == backups_before
    inv.ok("db.downgrade", "-r", "-1", "--force", "--yes")
    assert alembic_version(lab) == middle
    assert list(lab.backup_dir("db").glob("prod-before-downgrade-*.dump"))
    inv.ok("db.upgrade", "--yes")
    assert alembic_version(lab) == head
    inv.ok("db.downgrade", "-r", first, "--force", "--yes")
    assert alembic_version(lab) == first
    inv.ok("db.upgrade", "-r", "head", "--yes")
    assert alembic_version(lab) == head
    inv.ok("db.stamp", "-r", middle, "--yes")
    assert alembic_version(lab) == middle
    inv.ok("db.stamp", "-r", "head", "--yes")
    assert alembic_version(lab) == head

    generated = inv.ok("db.revision", "-m", "lab autogenerate check", "--autogenerate", "--env", "prod")
    copied = [line for line in generated.stdout.splitlines() if "alembic/versions/" in line and "review" in line]
    assert copied, generated.stdout
    files = list((lab.app_dir("app1") / "alembic" / "versions").glob("*_lab_autogenerate_check.py"))
    assert len(files) == 1 and "def upgrade()" in files[0].read_text()
    files[0].unlink()


def test_backup_then_restore_brings_back_deleted_rows(lab, inv):
    count = "SELECT count(*) FROM artifacts"
    create_artifacts(3)
    before = int(psql(lab, count))
    assert before >= 3
    inv.ok("db.backup")
    name = inv.ok("db.backups").stdout
    newest = sorted(lab.backup_dir("db").glob("prod-manual-*.dump"))[-1].name
    assert newest in name
    psql(lab, "DELETE FROM artifacts")
    assert int(psql(lab, count)) == 0
    inv.ok("db.restore", "--file", newest, "--yes")
    assert int(psql(lab, count)) == before
    assert inv("db.restore", "--file", "prod-nothing-20990101T000000Z.dump", "--yes").returncode == 1


def test_verify_tasks(lab, inv):
    names = ("health", "db", "redis", "smoke", "traffic", "config", "monitoring")
    results = dict(zip(names, inv.all_ok(*[(f"verify.{name}",) for name in names]), strict=True))  # all read-only
    for result in results.values():
        assert "FAIL" not in result.stdout
    assert "Database OK" in results["db"].stdout
    assert "Redis OK" in results["redis"].stdout
    smoke = results["smoke"].stdout
    assert "tenant isolation: other tenant gets 404" in smoke and "latency p95" in smoke


def test_verify_config_names_a_missing_variable_and_prints_no_value(lab, inv):
    from lab import labctl

    env_file = lab.app_dir("app2") / ".env"
    original = env_file.read_text()
    try:
        env_file.write_text("".join(line for line in original.splitlines(True) if not line.startswith("REDIS_URL=")))
        result = inv("verify.config")
        assert result.returncode == 1
        assert "app2: REDIS_URL" in result.stderr
    finally:
        env_file.write_text(original)
    for secret in labctl.secrets().values():
        assert secret not in result.stdout + result.stderr


def test_stack_troubleshooting(lab, inv):
    ps, logs, ready, stats = (
        result.stdout
        for result in inv.all_ok(
            ("stack.ps",),
            ("stack.logs", "api", "--color", "green", "--tail", "5"),
            ("stack.pg-isready",),
            ("stack.stats",),
        )
    )
    assert "ghostworks-green-api-1" in ps and "ghostworks-postgres-1" in ps
    assert "[app1]" in logs and "[app2]" in logs
    assert "accepting connections" in ready
    assert "ghostworks-blue-api-1" in stats


def test_never_healthy_tag_fails_and_green_keeps_serving(lab, inv, load_loop):
    with load_loop() as load:
        result = inv("deploy.prod", "--version", "v1.2.0-unhealthy", "--health-timeout", "5", *NO_MONITOR)
    assert result.returncode == 1
    assert "blue never became healthy within 5 s" in result.stderr
    assert "next: see its logs: ghost stack.logs api --color blue" in result.stderr
    assert load.failures == [] and set(load.answers) == {("green", "v1.1.0")}
    status, history = (
        json.loads(result.stdout)
        for result in inv.all_ok(("deploy.status", "--json"), ("deploy.history", "--limit", "1", "--json"))
    )
    assert status["active"] == "green" and status["lock"] is None
    assert status["colors"]["blue"]["failed_version"] == "v1.2.0-unhealthy"
    last = history[-1]
    assert (last["result"], last["failed_step"], last["color"]) == ("failed", "health check blue", "blue")


def test_rollback_redeploys_the_previous_version_and_downgrades_the_database(lab, inv):
    refused = inv("deploy.rollback", "--yes")
    assert refused.returncode == 1 and "--to" in refused.stderr
    inv.ok("deploy.rollback", "--to", "v1.0.0", "--yes")
    assert set(lb_answers()) == {("blue", "v1.0.0")}
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.0.0"]
    assert list(lab.backup_dir("db").glob("prod-rollback-v1.0.0-*.dump"))
    state = json.loads((lab.lb_state_dir / "state.json").read_text())
    assert state["active"] == "blue" and state["colors"]["blue"]["failed_version"] is None


def test_an_app_whose_health_names_no_colour_deploys_and_its_traffic_checks_pass(lab, inv):
    # v1.2.0-nocolor answers {"status", "version", "checks"}: only the LB's colour header says who served
    result = inv.ok("deploy.prod", "--version", "v1.2.0-nocolor", *SHORT_MONITOR)
    assert "LB verified: 10 requests to http://127.0.0.10/api/v1/health: 10x green v1.2.0-nocolor" in result.stdout
    assert "no rollback trigger fired" in result.stdout
    assert set(served()) == {("green", None, "v1.2.0-nocolor")}
    verified, status, wrong = inv.together(
        ("traffic.verify",), ("traffic.status", "--json"), ("traffic.verify", "--color", "blue")
    )
    assert verified.returncode == 0, verified.stderr
    report = json.loads(status.stdout)
    assert report["sample"] == {"green v1.2.0-nocolor": 10} and "sample_problem" not in report, report
    assert wrong.returncode == 1


def test_version_from_none_checks_the_images_the_containers_run(lab, inv, tmp_path):
    # an app that says neither its version nor anything but its status: the images must say the version
    data = yaml.safe_load(inv.inventory.read_text())
    data["environments"]["prod"]["health"] = {"checks": {}, "version_from": "none"}
    variant = tmp_path / "hosts.yml"
    variant.write_text(yaml.safe_dump(data))
    env = {"GHOST_INVENTORY": str(variant)}
    result = inv.ok("verify.health", env=env)
    assert "app1 green api: runs ghostworks-api:v1.2.0-nocolor (sha256:" in result.stdout
    assert "version from the image: tag ghostworks-api:v1.2.0-nocolor" in result.stdout
    # the tag moved under the running container (an image rebuilt, a hand-made tag): refused, naming both
    image = "ghostworks-api:v1.2.0-nocolor"
    original = docker(lab, "app2", "image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    docker(lab, "app2", "tag", "ghostworks-api:v1.0.0", image)
    try:
        refused = inv("verify.health", env=env)
    finally:
        docker(lab, "app2", "tag", original, image)
    assert refused.returncode == 1
    assert "green is healthy but does not run v1.2.0-nocolor (health.version_from: none" in refused.stderr
    assert f"app2 green api: runs {original[:19]}, not {image}" in refused.stderr
    assert "app1 green api" not in refused.stderr
    inv.ok("verify.health", env=env)


def test_no_secret_reaches_any_output_or_log(lab, inv):
    from lab import labctl

    secrets = [value for value in labctl.secrets().values() if len(value) >= 8]
    assert secrets
    texts = [path.read_text() for path in inv.log_dir.glob("*.log")]
    texts += [(lab.lb_state_dir / "history.jsonl").read_text()]
    texts += [result.stdout for result in inv.all_ok(("stack.config",), ("stack.logs", "postgres", "--tail", "50"))]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert os.stat(lab.app_dir("app1") / ".env").st_mode & 0o077 == 0
