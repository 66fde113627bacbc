"""The second app (lab/app2, "the shop", environment `shop`) through the same production flows as the demo.

The shop is built unlike the demo on purpose (lab/app2/README.md): services orders and storefront (no `api`), a
health answer without version or colour, prometheus_client metric names, text logs, its own database service
`db`, alembic ids `0001_init`..`0005_order_status` with a merge point, its own scripts/smoke-tests.sh. It lives
beside the demo on the flat lab's hosts, behind the LB's second server (http://127.0.0.10:8080).

In order, each test from where the last one ended: first deploy migrates from an empty database through the
merge point -> second deploy adds orders.status (under load, monitored by its own metrics) -> switches both ways
under load -> emergency rollback -> a release whose smoke script fails is refused before the switch -> a release
that serves 5xx under load is rolled back automatically by its own metrics -> rollback that takes the schema
back. Reality is read directly: psql in the shop's db container, the LB's flag file and X-Upstream header (the
address and port that served), the containers' RELEASE.

The module takes the flat lab as it finds it and resets only the shop's part (lab.labctl.shop.reset).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lab.labctl import shop as lab_shop
from lab.labctl.hosts import FLAT
from lab.shop_releases import ALEMBIC_HEADS
from tests.lab import shop_world
from tests.lab.shop_world import JUDGED, NO_MONITOR, Shop, alembic_version, columns, psql
from tests.lab.world import LoadLoop

PUBLIC = FLAT.shop_public_url
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def shop(lab, inv):
    """The flat lab with the shop as before its first deploy; `shop(task, *args)` runs `inv task --env shop ...`."""
    lab_shop.reset(lab, FLAT)
    return Shop(inv, TIMINGS)


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield from shop_world.report_module_timings("second app timings", TIMINGS, "GHOSTLAB_SHOP_TIMINGS")


def assert_serving(lab, color: str, version: str) -> None:
    shop_world.assert_serving(lab, PUBLIC, color, version)


def orders_load(**kwargs) -> LoadLoop:
    return shop_world.orders_load(PUBLIC, **kwargs)


def test_first_deploy_migrates_an_empty_database_through_the_merge_point(lab, shop):
    assert alembic_version(lab) is None
    result = shop.timed("deploy v1.0.0 (blue)", "deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert "0004_merge" in result.stdout
    assert alembic_version(lab) == ALEMBIC_HEADS["v1.0.0"] == "0004_merge"
    assert {"orders", "customers", "products"} <= set(psql(lab, "SELECT tablename FROM pg_tables").split())
    assert "customer_id" in columns(lab, "orders") and "status" not in columns(lab, "orders")
    assert_serving(lab, "blue", "v1.0.0")
    status = shop.json("deploy.status")
    assert status["active"] == "blue" and status["colors"]["blue"]["version"] == "v1.0.0"
    assert status["colors"]["blue"]["alembic_head"] == "0004_merge"


def test_second_deploy_adds_the_column_and_is_monitored_by_its_own_metrics(lab, shop):
    with orders_load() as load:
        result = shop.timed(
            "deploy v1.1.0 (green, 0.1 min)", "deploy.prod", "--version", "v1.1.0", "--monitor-minutes", "0.1", "--yes"
        )
    assert "no rollback trigger fired" in result.stdout
    assert JUDGED.search(result.stdout), result.stdout  # a reading of the shop's own metrics, not only "no series"
    assert load.failures == [] and load.requests > 50
    assert alembic_version(lab) == "0005_order_status"
    assert "status" in columns(lab, "orders")
    assert_serving(lab, "green", "v1.1.0")
    assert all("status" in order for order in httpx.get(f"{PUBLIC}/orders", timeout=5).json()["orders"])
    assert list(lab.shop_backup_dir.glob("*.dump"))
    last = shop.json("deploy.history", "--limit", "1")[-1]
    assert (last["task"], last["version"], last["result"], last["color"]) == ("deploy.prod", "v1.1.0", "ok", "green")


def test_traffic_switch_both_ways_under_load(lab, shop):
    with orders_load() as load:
        shop.timed("switch to blue", "traffic.switch", "blue", "--yes")
        assert_serving(lab, "blue", "v1.0.0")
        shop.ok("traffic.verify", "--color", "blue")
        shop.ok("traffic.switch", "green", "--yes")
        assert_serving(lab, "green", "v1.1.0")
        shop.ok("traffic.verify")
    assert load.requests > 50 and load.failures == []


def test_verify_tasks_read_the_shops_own_services_logs_and_script(lab, shop):
    names = ("health", "db", "redis", "smoke", "traffic", "config", "logs")
    with ThreadPoolExecutor(max_workers=len(names)) as pool:  # they only read: all at once
        results = dict(zip(names, pool.map(lambda name: shop(f"verify.{name}"), names), strict=True))
    outputs = {}
    for name, result in results.items():
        assert result.returncode == 0, f"verify.{name} failed:\n{result.stdout}\n{result.stderr}"
        assert "FAIL" not in result.stdout
        outputs[name] = result.stdout + result.stderr
    assert "smoke script ./scripts/smoke-tests.sh: passed against green" in outputs["smoke"]
    assert "0 ERROR/CRITICAL" in outputs["logs"] and "requests found in the orders logs" in outputs["logs"]


def test_emergency_rollback_switches_now_and_freezes_deploys(lab, shop):
    shop.timed("emergency rollback", "deploy.emergency-rollback", "--reason", "shop lab drill")
    assert_serving(lab, "blue", "v1.0.0")
    assert alembic_version(lab) == "0005_order_status"  # an emergency rollback never migrates
    refused = shop("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    assert refused.returncode == 3 and "frozen (emergency rollback)" in refused.stderr
    shop.ok("deploy.unlock", "--force")
    shop.ok("traffic.switch", "green", "--yes")
    assert_serving(lab, "green", "v1.1.0")


def test_a_failing_smoke_script_refuses_the_switch(lab, shop):
    with orders_load() as load:
        result = shop.timed(
            "deploy badsmoke (refused)", "deploy.prod", "--version", "v1.2.0-badsmoke", *NO_MONITOR, ok=False
        )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "smoke-tests.sh" in output and "smoke: FAILED" in output  # the script's own tail is shown
    assert load.failures == []
    assert_serving(lab, "green", "v1.1.0")
    status = shop.json("deploy.status")
    assert status["active"] == "green" and status["colors"]["blue"]["failed_version"] == "v1.2.0-badsmoke"
    assert alembic_version(lab) == "0005_order_status"


def test_a_release_serving_errors_is_rolled_back_by_its_own_metrics(lab, shop):
    with orders_load(max_seconds=240) as load:
        result = shop.timed(
            "deploy errors (auto rollback)",
            "deploy.prod",
            "--version",
            "v1.2.0-errors",
            "--monitor-minutes",
            "1.5",
            "--yes",
            ok=False,
        )
    assert result.returncode == 1
    assert "error rate" in result.stdout + result.stderr
    assert any(failure == "HTTP 500" for failure in load.failures)  # blue served the drill's 5xx for a while
    assert_serving(lab, "green", "v1.1.0")  # and the flag file went back
    assert "automatic rollback" in result.stdout + result.stderr
    last = shop.json("deploy.history", "--limit", "1")[-1]
    assert last["version"] == "v1.2.0-errors" and last["result"] != "ok" and last["failed_step"] == "monitor"


def test_rollback_takes_the_schema_back(lab, shop):
    shop.timed("rollback to v1.0.0", "deploy.rollback", "--to", "v1.0.0", "--yes")
    assert_serving(lab, "blue", "v1.0.0")
    assert alembic_version(lab) == "0004_merge"
    assert "status" not in columns(lab, "orders") and "customer_id" in columns(lab, "orders")
    assert list(lab.shop_backup_dir.glob("*rollback*.dump"))
    status = shop.json("deploy.status")
    assert status["active"] == "blue" and status["colors"]["blue"]["alembic_head"] == "0004_merge"


def test_slow_requests_are_read_from_the_shops_text_logs(lab, shop):
    """verify.logs --slow on text logs (logs.pattern's groups): the request this test held behind a lock on
    `orders` is the slowest GET /orders it names, with the id the test sent, the status and the time its
    container logged (read here with docker logs on the host that served it)."""
    import re
    import threading
    import time
    import uuid

    serving = "green" if shop_world.flag(lab) else "blue"
    if shop_world.release_of(lab, "app1", serving) is None:  # run alone (-k): the module's reset left no release
        shop.ok("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
        serving = "blue"
    lock = "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"
    holder = threading.Thread(target=psql, args=(lab, lock))
    holder.start()
    try:
        granted = "SELECT count(*) FROM pg_locks WHERE relation = 'orders'::regclass AND mode = 'AccessExclusiveLock'"
        deadline = time.monotonic() + 10
        while psql(lab, granted + " AND granted") != "1":
            assert time.monotonic() < deadline, "the lock on orders was never granted"
            time.sleep(0.1)
        rid = f"slow{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        response = httpx.get(f"{PUBLIC}/orders", headers={"X-Correlation-ID": rid}, timeout=30)
        took = time.monotonic() - started
    finally:
        holder.join(timeout=30)
    assert response.status_code == 200 and response.headers["X-Correlation-ID"] == rid
    assert took >= 1.5, f"the request was not held by the lock ({took:.3f} s)"
    address = response.headers["X-Upstream"].rsplit(":", 1)[0]
    host = next(h.name for h in FLAT.app_hosts if h.address == address)
    logged = shop_world.docker(lab, host, "logs", f"shop-{serving}-orders-1").stdout
    line = re.search(rf"^(\S+ \S+) INFO \[rid={rid}\] GET /orders 200 ([\d.]+)ms$", logged, re.M)
    assert line, f"{host}'s orders container logged no line for {rid}"

    found = shop.json("verify.logs", "--slow", "1", "--since", "5m")
    orders = next(endpoint for endpoint in found if endpoint["endpoint"] == "GET /orders")
    slowest = orders["slowest"][0]
    assert (slowest["request_id"], slowest["status"], slowest["method"], slowest["at"]) == (rid, "200", "GET", line[1])
    assert slowest["seconds"] == round(float(line[2]) / 1000, 3) and 1.5 <= slowest["seconds"] <= took
