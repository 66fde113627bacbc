"""The flows over alembic's own model: a release whose history branches and merges (ids like 0001_init) is
deployed through the revision reader, a database at two heads is shown and refused, and a reader that answers
no graph stops the deploy before anything changed. A plan recorder answers as scripted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows import database
from ghosttasks.flows.blue_green import deploy
from ghosttasks.testing import Answer, ScriptedExecutor, a_run, prod

MERGED_GRAPH = (Path(__file__).parent / "alembic_fixtures" / "merged.graph.txt").read_text()
READER = "python3 -c 'import json,os,sys;from alembic.config"
STATE = DeployState(
    active="green",
    previous="blue",
    colors={"blue": ColorState("v1.0.0", "0001_init"), "green": ColorState("v1.1.0", "0002_orders")},
    version_heads={"v1.0.0": "0001_init", "v1.1.0": "0002_orders"},
    version_graphs={"v1.0.0": {"0001_init": []}, "v1.1.0": {"0001_init": [], "0002_orders": ["0001_init"]}},
    database_revision="0002_orders",
)
UPGRADE_SQL = (Path(__file__).parent / "alembic_fixtures" / "merged.upgrade.sql").read_text()  # real alembic


def scripted(database_rows, *, state: DeployState = STATE, task: str = "deploy.prod"):
    executor = ScriptedExecutor(prod(), dry_run=True, unscripted="assume")
    executor.on("cat /var/lib/ghosttasks/state.json", state.to_json())
    executor.on(READER, MERGED_GRAPH)
    executor.on("--sql", UPGRADE_SQL)
    executor.on("alembic_version'", reply=database_rows if callable(database_rows) else None, stdout=database_rows)
    return a_run(executor, task=task), executor


def test_a_release_with_a_merge_in_its_history_is_upgraded_to_its_head():
    def rows(call):  # at 0002_orders until the upgrade ran, then at its target
        done = any("api alembic upgrade 0005_status" in c.command and "--sql" not in c.command for c in ran.commands)
        return Answer("0005_status\n" if done else "0002_orders\n")

    run, ran = scripted(rows)
    state = deploy(run, "v1.2.0", monitor_minutes=0)
    plan = "\n".join(run.executor.entries)
    assert "# database at 0002_orders: upgrading to 0005_status" in plan
    assert "api alembic upgrade 0002_orders:0005_status --sql" in plan
    assert "# upgrade 0004_merge: merge orders and customers" in plan
    assert plan.index("pg_dump") < plan.index("api alembic upgrade 0005_status")
    saved = json.loads([line for line in run.executor.entries if '"version_graphs"' in line][-1].split("| ", 1)[1])
    assert saved["version_graphs"]["v1.2.0"]["0004_merge"] == ["0002_orders", "0003_customers"]
    assert saved["version_heads"]["v1.2.0"] == "0005_status"
    assert state is None or state.colors["blue"].version == "v1.2.0"


def test_a_reader_that_answers_no_graph_stops_the_deploy_before_anything_changed():
    run, ran = scripted("0002_orders\n")
    ran.on(READER, "", "ModuleNotFoundError: No module named 'alembic'")
    ran.rules.insert(0, ran.rules.pop())  # before the rule that answers the graph
    with pytest.raises(OperationFailed) as failed:
        deploy(run, "v1.2.0", monitor_minutes=0)
    assert str(failed.value) == ("step 'review migration' failed: v1.2.0: the alembic revision reader printed nothing")
    assert failed.value.hint == "the reader said: ModuleNotFoundError: No module named 'alembic'"
    plan = "\n".join(run.executor.entries)
    assert "pg_dump" not in plan and "up -d" not in plan


def test_a_database_at_two_heads_is_shown_and_refused():
    run, _ = scripted("0003_customers\n0002_orders\n", task="db.current")
    assert database.current(run) == "0002_orders,0003_customers"
    said = run.out.printed
    assert "the database is at 2 heads: 0002_orders, 0003_customers" in said
    assert "database at 0002_orders: the head of v1.1.0; known to v1.1.0" in said
    assert "database at 0003_customers; no recorded version ships it" in said
    run, _ = scripted("0003_customers\n0002_orders\n", task="db.upgrade")
    with pytest.raises(OperationFailed) as refused:
        database.migrate(run, "upgrade", "head")
    assert "the database is at two heads 0002_orders, 0003_customers (a downgrade below a merge" in str(refused.value)
