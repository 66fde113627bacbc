"""The second lab app's releases (lab/app2, "the shop"): tags of its own origin, built like lab/releases.py does
for the demo, on purpose unlike it (revision ids `0001_init`.., a merge revision, its own smoke script).

- v1.0.0: lab/app2 without 0005: 0001_init, then 0002_orders and 0003_customers (both from 0001_init), joined by
  0004_merge (a merge point; adds orders.customer_id). Alembic head 0004_merge.
- v1.1.0 (= branch main, lab/app2 as it is): + 0005_order_status (orders.status with a default: expand-only).
  Head 0005_order_status.
- v1.2.0-badsmoke (on v1.1.0): `FAULT = "broken_orders"`: healthy, but POST /orders answers 500, so
  scripts/smoke-tests.sh fails. Head 0005_order_status.
- v1.2.0-errors (on v1.1.0): `FAULT = "errors"`: healthy, but after 20 requests to /orders every second one
  answers 500 (seen only in its http_requests_total). Head 0005_order_status.
"""

from __future__ import annotations

from lab.releases import Edit, Release

FAULTS_FILE = "shop/faults.py"
STATUS_MIGRATION = "migrations/versions/0005_order_status.py"
COLUMNS_V11 = 'COLUMNS = ("id", "product", "quantity", "customer_id", "status")\n'
COLUMNS_V10 = 'COLUMNS = ("id", "product", "quantity", "customer_id")\n'
MAIN = "v1.1.0"
EXECUTABLES = {"docker/bin/alembic", "docker/db-entrypoint.sh", "scripts/smoke-tests.sh"}


def _fault(name: str) -> Edit:
    return Edit(FAULTS_FILE, "\nFAULT = None\n", f'\nFAULT = "{name}"\n')


RELEASES = (
    Release(
        "v1.0.0",
        "2024-05-01T10:00:00+00:00",
        "Shop v1.0.0: products, orders, customers (merged histories)",
        "0004_merge",
        (Edit(STATUS_MIGRATION, None), Edit("shop/orders.py", COLUMNS_V11, COLUMNS_V10)),
    ),
    Release(MAIN, "2024-06-01T10:00:00+00:00", "Shop v1.1.0: order status", "0005_order_status"),
    Release(
        "v1.2.0-badsmoke",
        "2024-07-01T10:00:00+00:00",
        "Drill: POST /orders answers 500 (healthy; the smoke script fails)",
        "0005_order_status",
        (_fault("broken_orders"),),
        base="v1.1.0",
        fault="broken_orders",
    ),
    Release(
        "v1.2.0-errors",
        "2024-07-01T10:10:00+00:00",
        "Drill: every second request to /orders answers 500 after the first 20 (healthy)",
        "0005_order_status",
        (_fault("errors"),),
        base="v1.1.0",
        fault="errors",
    ),
)
#: tag -> the alembic head revision that tag ships.
ALEMBIC_HEADS = {release.tag: release.alembic_head for release in RELEASES}
