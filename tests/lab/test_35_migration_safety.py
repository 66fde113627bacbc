"""Migration safety against the real lab: squawk's gate refuses a breaking migration before anything changes;
allowed, the old colour's errors show why the gate exists; a migration behind a held lock stops at
lock_timeout with nothing applied and the old colour serving every request.

Starts, like test_30, from green serving v1.1.0 (blue v1.0.0); ends with green serving v1.1.0 on its schema
(blue holds the dropcolumn drill after the rollback). Reality is read directly: information_schema, pg_indexes
and alembic_version with psql, the backup directory, the colours' own ports, the LB.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from lab.releases import ALEMBIC_HEADS
from tests.lab.conftest import ROOT
from tests.lab.world import GREEN_V110, HeldLock, bring_to, lb_answers, psql

NO_MONITOR = ("--monitor-minutes", "0", "--yes")
V110_HEAD = ALEMBIC_HEADS["v1.1.0"]
APP1 = "127.0.0.11"
GREEN_PORT = 8002
LOGIN = {"tenant": "acme", "username": "admin", "password": "acme-demo-password"}
#: The migration's lock_timeout for the held-lock drill (the lab's hosts.yml keeps the default, 5 s): any
#: lock_timeout proves the migration gives up instead of queueing, and three attempts wait three times it.
LOCK_TIMEOUT = 1


@pytest.fixture(scope="module", autouse=True)
def green_serves_v110(lab, inv):
    """Every case starts from green serving v1.1.0 (blue v1.0.0), the schema at its head."""
    bring_to(lab, inv, GREEN_V110)


def schema(lab) -> dict:
    """What the database really holds: artifacts' columns and indexes, and alembic's revision."""
    return {
        "columns": psql(
            lab, "SELECT column_name FROM information_schema.columns WHERE table_name = 'artifacts' ORDER BY 1"
        ).split(),
        "indexes": psql(lab, "SELECT indexname FROM pg_indexes WHERE tablename = 'artifacts' ORDER BY 1").split(),
        "revision": psql(lab, "SELECT version_num FROM alembic_version"),
    }


def backups(lab) -> list[Path]:
    return sorted(lab.backup_dir("db").glob("*.dump"))


def last_run(inv) -> dict:
    return inv.json("deploy.history", "--limit", "1")[-1]


def green_artifacts_status() -> int:
    """GET /api/v1/artifacts on green's own port on app1 (v1.1.0 code), logged in."""
    with httpx.Client(base_url=f"http://{APP1}:{GREEN_PORT}", timeout=10) as client:
        token = client.post("/api/v1/auth/login", json=LOGIN).json()["access_token"]
        return client.get("/api/v1/artifacts", headers={"Authorization": f"Bearer {token}"}).status_code


def test_1_a_breaking_migration_is_refused_before_anything_changes(lab, inv, load_loop):
    before, dumps, blue = schema(lab), backups(lab), inv.json("deploy.status")["colors"]["blue"]
    with load_loop() as load:
        result = inv("deploy.prod", "--version", "v1.2.0-dropcolumn", *NO_MONITOR)
    assert result.returncode == 1
    assert "step 'review migration' failed: the migration would break green (v1.1.0)" in result.stderr
    assert (
        "0006f6a7b8c9: breaking (ban-drop-column): ALTER TABLE artifacts DROP COLUMN tags; — Dropping a column may "
        "break existing clients. Instead: stop reading the column in one release, drop it in a later one "
        "(expand/contract)"
    ) in result.stderr
    assert "--allow-breaking-migration" in result.stderr
    assert "upgrade 0006f6a7b8c9: Drop artifact tags." in result.stdout
    assert schema(lab) == before and "tags" in before["columns"]
    assert backups(lab) == dumps, "refused before the backup"
    assert load.failures == [] and set(load.answers) == {("green", "v1.1.0")}
    assert inv.json("deploy.status")["colors"]["blue"] == blue, "blue was not touched"
    assert green_artifacts_status() == 200
    run = last_run(inv)
    assert (run["result"], run["failed_step"], run["migration_lint"]) == (
        "failed",
        "review migration",
        "squawk: 1 breaking",
    )


def test_2_db_lint_warns_of_the_locking_index(lab, inv):
    result = inv("db.lint", "--version", "v1.2.0-lockingindex")
    assert result.returncode == 0, result.stderr
    assert (
        "0007a7b8c9d0: locking (require-concurrent-index-creation): CREATE INDEX ix_artifacts_name ON artifacts (name);"
    ) in result.stdout
    assert "squawk: 1 locking" in result.stdout


def lock_timeout_variant(tmp_path) -> dict:
    """lab/hosts.yml with prod's migration lock_timeout at LOCK_TIMEOUT; the env that selects it."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    data["environments"]["prod"]["database"]["migration_lock_timeout_seconds"] = LOCK_TIMEOUT
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(path)}


def test_3_a_migration_behind_a_held_lock_stops_at_lock_timeout_with_nothing_applied(lab, inv, load_loop, tmp_path):
    """An open write transaction on artifacts (ROW EXCLUSIVE) blocks CREATE INDEX's SHARE lock but none of the
    live colour's queries: the migration gives up after lock_timeout, three times, and the deploy fails."""
    before, dumps, env = schema(lab), backups(lab), lock_timeout_variant(tmp_path)
    with HeldLock(lab, "artifacts", "ROW EXCLUSIVE") as lock:
        started = time.monotonic()
        with load_loop() as load:
            result = inv("deploy.prod", "--version", "v1.2.0-lockingindex", *NO_MONITOR, env=env)
        seconds = time.monotonic() - started
        assert lock.held(), "the lock was held for the whole deploy"
    print(f"deploy against the held lock: {seconds:.1f} s, {load.requests} LB requests")
    assert result.returncode == 1
    assert "warn 0007a7b8c9d0: locking (require-concurrent-index-creation)" in result.stdout
    assert f"alembic upgrade hit lock_timeout ({LOCK_TIMEOUT} s) on attempt 1" in result.stdout
    assert f"alembic upgrade hit lock_timeout ({LOCK_TIMEOUT} s) on attempt 2" in result.stdout
    assert (
        f"step 'migrate database' failed: alembic upgrade stopped at its lock_timeout ({LOCK_TIMEOUT} s) in each of 3"
    ) in result.stderr
    backup = re.search(r"the verified backup from before it is (\S+\.dump)", result.stderr)
    assert backup, result.stderr
    assert Path(backup.group(1)).name in {path.name for path in backups(lab)} - {path.name for path in dumps}
    assert schema(lab) == before, "no index, no revision: nothing was applied"
    assert "ix_artifacts_name" not in before["indexes"]
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {("green", "v1.1.0")} and load.requests > 50
    assert set(lb_answers(10)) == {("green", "v1.1.0")}
    run = last_run(inv)
    assert (run["result"], run["failed_step"], run["migration_lint"]) == (
        "failed",
        "migrate database",
        "squawk: 1 locking",
    )
    assert inv.json("deploy.status")["lock"] is None


def test_4_allowed_the_breaking_migration_breaks_the_old_colour_and_is_recorded(lab, inv):
    result = inv("deploy.prod", "--version", "v1.2.0-dropcolumn", "--allow-breaking-migration", *NO_MONITOR)
    assert result.returncode == 0, result.stderr
    assert "--allow-breaking-migration: running 1 breaking change(s) while green (v1.1.0) serves" in result.stdout
    after = schema(lab)
    assert "tags" not in after["columns"] and after["revision"] == ALEMBIC_HEADS["v1.2.0-dropcolumn"]
    assert set(lb_answers(10)) == {("blue", "v1.2.0-dropcolumn")}
    # green, v1.1.0, served on this schema until the switch and serves again after any rollback
    assert green_artifacts_status() == 500
    run = last_run(inv)
    assert (run["result"], run["allow_breaking_migration"], run["migration_lint"]) == (
        "ok",
        True,
        "squawk: 1 breaking",
    )
    # back to v1.1.0 on its own schema: the switch, then the downgrade re-adds the column
    rollback = inv.ok("deploy.rollback", "--yes")
    assert "lint of the downgrade SQL" in rollback.stdout
    restored = schema(lab)
    assert "tags" in restored["columns"] and restored["revision"] == V110_HEAD
    assert set(lb_answers(10)) == {("green", "v1.1.0")}
    assert green_artifacts_status() == 200
