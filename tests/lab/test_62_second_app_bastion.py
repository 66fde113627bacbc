"""The second app (lab/app2, environment shop) deployed through the bastion topology (see test_60_bastion.py):
hosts in a network namespace, entered as deploy through the bastion, sudo on the LB, probes through SSH; the
shop's own LB server reached from the operator's side at http://127.0.0.41:8080.

First deploy (an empty database, through the merge point) -> second deploy under load, monitored by its own
metrics (Prometheus inside the namespace, read through SSH) -> rollback that takes the schema back.
"""

from __future__ import annotations

import pytest

from lab.labctl import shop as lab_shop
from lab.labctl.hosts import BASTION
from tests.lab import shop_world
from tests.lab.shop_world import JUDGED, NO_MONITOR, Shop, alembic_version, columns

PUBLIC = BASTION.shop_public_url
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def lab(bastion_lab):
    return bastion_lab


@pytest.fixture(scope="module")
def shop(bastion_lab, bastion_inv):
    lab_shop.reset(bastion_lab, BASTION)
    return Shop(bastion_inv, TIMINGS)


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield from shop_world.report_module_timings("second app (bastion) timings", TIMINGS)


def test_first_deploy_through_the_bastion(lab, shop):
    assert alembic_version(lab) is None
    shop.timed("deploy v1.0.0 (blue)", "deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert alembic_version(lab) == "0004_merge"
    shop_world.assert_serving(lab, PUBLIC, "blue", "v1.0.0")


def test_second_deploy_under_load_monitored_through_the_bastion(lab, shop):
    with shop_world.orders_load(PUBLIC) as load:
        result = shop.timed(
            "deploy v1.1.0 (green, 0.1 min)", "deploy.prod", "--version", "v1.1.0", "--monitor-minutes", "0.1", "--yes"
        )
    assert "no rollback trigger fired" in result.stdout
    assert JUDGED.search(result.stdout), result.stdout  # a reading of the shop's own metrics, not only "no series"
    assert load.failures == [] and load.requests > 20
    assert alembic_version(lab) == "0005_order_status" and "status" in columns(lab, "orders")
    shop_world.assert_serving(lab, PUBLIC, "green", "v1.1.0")


def test_rollback_through_the_bastion_takes_the_schema_back(lab, shop):
    shop.timed("rollback (blue v1.0.0)", "deploy.rollback", "--to", "v1.0.0", "--yes")
    shop_world.assert_serving(lab, PUBLIC, "blue", "v1.0.0")
    assert alembic_version(lab) == "0004_merge" and "status" not in columns(lab, "orders")
