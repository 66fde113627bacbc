"""Looking at the second app (lab/app2, "the shop", environment shop) directly, not through ghosttasks: its
PostgreSQL, the LB's second server, its flag file, its containers. Shared by test_59 (flat) and test_62 (bastion).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from lab.labctl.hosts import SHOP_COLOR_PORTS
from tests.lab.world import LoadLoop, docker

ENV = ("--env", "shop")
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
PORT_COLOR = {ports["orders"]: color for color, ports in SHOP_COLOR_PORTS.items()}
#: A monitoring line that judged both triggers from Prometheus (the shop's own prometheus_client metrics).
JUDGED = re.compile(r"(blue|green): error rate [\d.]+%, p95 [\d.]+ s \(prometheus\)")


class Shop:
    """`inv TASK --env shop ARGS` through the module's Inv, with timings."""

    def __init__(self, inv, timings: dict[str, float]) -> None:
        self.inv, self.timings = inv, timings

    def __call__(self, task: str, *args: str, **kwargs):
        return self.inv(task, *ENV, *args, **kwargs)

    def ok(self, task: str, *args: str, **kwargs):
        return self.inv.ok(task, *ENV, *args, **kwargs)

    def json(self, task: str, *args: str):
        return json.loads(self.inv.ok(task, *ENV, *args, "--json").stdout)

    def timed(self, name: str, task: str, *args: str, ok: bool = True, **kwargs):
        started = time.monotonic()
        result = self.ok(task, *args, **kwargs) if ok else self(task, *args, **kwargs)
        self.timings[name] = time.monotonic() - started
        return result


def psql(lab, sql: str) -> str:
    """SQL in the shop's own PostgreSQL (compose service db, project shop, database and user shop)."""
    return docker(lab, "db", "exec", "shop-db-1", "psql", "-U", "shop", "-d", "shop", "-tAc", sql).stdout.strip()


def alembic_version(lab) -> str | None:
    """The alembic_version row(s), comma-separated; None when the table does not exist."""
    if psql(lab, "SELECT to_regclass('alembic_version') IS NOT NULL") != "t":
        return None
    return psql(lab, "SELECT string_agg(version_num, ',') FROM alembic_version")


def columns(lab, table: str) -> set[str]:
    sql = f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
    return set(psql(lab, sql).split())


def served_by(public: str, count: int = 10) -> set[str]:
    """The colours that answered `count` fresh requests to /healthz through the LB (X-Upstream's port)."""
    colours = set()
    with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            response = client.get(f"{public}/healthz")
            assert response.status_code == 200, response.text
            assert response.json() == {"healthy": True, "db": "up"}
            colours.add(PORT_COLOR[int(response.headers["X-Upstream"].rsplit(":", 1)[1])])
    return colours


def flag(lab) -> bool:
    """Whether the shop's flag file (green serves) exists in its own LB state dir."""
    return (lab.shop_state_dir / "shop-active-green").exists()


def release_of(lab, host: str, color: str) -> str | None:
    """The RELEASE the colour's orders container on `host` runs (None: no such container)."""
    found = docker(lab, host, "inspect", "-f", "{{json .Config.Env}}", f"shop-{color}-orders-1", check=False)
    if found.returncode != 0:
        return None
    return dict(item.split("=", 1) for item in json.loads(found.stdout)).get("RELEASE")


def assert_serving(lab, public: str, color: str, version: str) -> None:
    """`color` answers every request through the LB, the flag file says so, and runs `version` on both hosts."""
    assert served_by(public) == {color}
    assert flag(lab) == (color == "green")
    for host in ("app1", "app2"):
        assert release_of(lab, host, color) == version


def orders_load(public: str, **kwargs) -> LoadLoop:
    """Users' traffic: GET /orders through the LB's shop server, in the background."""
    return LoadLoop(url=f"{public}/orders", **kwargs)


def report_module_timings(title: str, timings: dict[str, float], json_variable: str | None = None) -> Iterator[None]:
    """A module fixture's body: times the module, prints every timing under `title`, and writes them as JSON to
    the file the environment variable `json_variable` names, when it is set."""
    started = time.monotonic()
    yield
    timings["module"] = time.monotonic() - started
    print(f"\n{title}:\n" + "\n".join(f"  {name:<32} {secs:6.1f} s" for name, secs in timings.items()))
    target = os.environ.get(json_variable) if json_variable else None
    if target:
        Path(target).write_text(json.dumps(timings, indent=2) + "\n")
