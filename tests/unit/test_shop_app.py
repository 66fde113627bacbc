"""The lab's second app (lab/app2, "the shop"): its origin and releases (lab/shop_releases.py) as alembic's own
model reads them, its log lines against the lab inventory's pattern (verify.logs and --slow), and the lab
inventories with its environment.

No Docker, no database: alembic reads each tag's migrations from a worktree of the origin built here.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ghosttasks.config.settings import LogSettings
from ghosttasks.decisions import slow_requests

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "lab" / "app2"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.origin import build_shop_origin  # noqa: E402
from lab.shop_releases import ALEMBIC_HEADS, MAIN, RELEASES  # noqa: E402


def _git(repo: Path, *args: str) -> str:
    argv = ["git", "-c", "safe.directory=*", "--git-dir", str(repo), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    dest = tmp_path_factory.mktemp("shop-origin") / "shop.git"
    build_shop_origin(dest)
    return dest


def _script_directory(origin: Path, tag: str, where: Path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    work = where / tag
    work.mkdir()
    subprocess.run(["tar", "-x", "-C", str(work)], input=_archive(origin, tag), check=True)
    return ScriptDirectory.from_config(Config(str(work / "alembic.ini")))


def _archive(origin: Path, tag: str) -> bytes:
    argv = ["git", "-c", "safe.directory=*", "--git-dir", str(origin), "archive", tag]
    return subprocess.run(argv, capture_output=True, check=True).stdout


def test_origin_has_every_release_and_main_is_the_app_as_it_is(origin):
    assert set(_git(origin, "tag", "--list").split()) == {release.tag for release in RELEASES}
    assert _git(origin, "rev-parse", "main") == _git(origin, "rev-parse", f"{MAIN}^{{commit}}")
    for release in RELEASES:
        faults = _git(origin, "show", f"{release.tag}:shop/faults.py")
        expected = f'"{release.fault}"' if release.fault else "None"
        assert re.search(r"^FAULT = (.+)$", faults, re.M).group(1) == expected
        mode = _git(origin, "ls-tree", release.tag, "scripts/smoke-tests.sh").split()[0]
        assert mode == "100755"


def test_each_release_has_one_head_and_the_history_merges_two_branches(origin, tmp_path):
    for release in RELEASES:
        script = _script_directory(origin, release.tag, tmp_path)
        assert script.get_heads() == [ALEMBIC_HEADS[release.tag]], release.tag
        merge = script.get_revision("0004_merge")
        assert merge.is_merge_point and set(merge.down_revision) == {"0002_orders", "0003_customers"}
        assert script.get_revision("0001_init").is_branch_point
    v100 = _git(origin, "show", "v1.0.0:shop/orders.py")
    assert '"customer_id")' in v100 and '"status"' not in v100  # v1.0.0 reads no column of 0005_order_status


def test_the_real_alembic_output_of_its_releases_reads_as_one_graph_with_a_merge():
    """tests/unit/alembic_fixtures/SHOP.md: captured in the app's image (Debian's alembic 1.8.1)."""
    from ghosttasks.domain.revisions import parse_revision_graph

    fixtures = ROOT / "tests" / "unit" / "alembic_fixtures"
    for tag in ("v1.0.0", "v1.1.0"):
        head = ALEMBIC_HEADS[tag]
        assert (fixtures / f"shop-{tag}.heads.txt").read_text().split()[0] == head
        assert "0002_orders, 0003_customers -> 0004_merge" in (fixtures / f"shop-{tag}.history.txt").read_text()
        graph = parse_revision_graph((fixtures / f"shop-{tag}.graph.txt").read_text()).graph
        assert graph.heads() == (head,)
        assert graph.ancestors(head) >= {"0001_init", "0002_orders", "0003_customers"}
        assert set(graph.children("0001_init")) == {"0002_orders", "0003_customers"}


def test_a_shop_log_line_matches_the_lab_inventorys_pattern(capsys):
    sys.path.insert(0, str(SHOP))
    try:
        from shop import logs
    finally:
        sys.path.remove(str(SHOP))
    template = (ROOT / "lab" / "templates" / "shop-env.yml.j2").read_text()
    pattern = re.search(r"^\s+pattern: '(.+)'$", template, re.M).group(1)
    log = logs.setup("INFO")
    try:
        log.error("orders: request %d failed", 21, extra={"rid": "abc123"})
        log.info("listening")
        log.info("%s %s %d %.1fms", "GET", "/orders", 200, 1234.56, extra={"rid": "r-77"})  # shop/http.py's line
    finally:
        logging.getLogger().handlers[:] = []
    error, info, request = capsys.readouterr().out.splitlines()
    match = re.match(pattern, error)
    assert (match["level"], match["request_id"], match["message"]) == ("ERROR", "abc123", "orders: request 21 failed")
    assert re.match(pattern, info)["request_id"] == "-"
    settings = LogSettings(format="text", pattern=pattern)
    assert slow_requests.parse_requests("\n".join([error, info, request]), settings) == [
        slow_requests.Request("GET /orders", 1.235, "r-77", "200", request[:23], "GET")
    ]


@pytest.mark.parametrize("topology", ["flat", "bastion"])
def test_the_lab_inventories_load_with_the_shop_environment(topology, tmp_path):
    from ghosttasks.config.inventory import load_inventory
    from lab.labctl.files import render
    from lab.labctl.hosts import TOPOLOGIES
    from lab.labctl.inventory import TEMPLATES, inventory_context
    from lab.labctl.paths import Layout

    topo = TOPOLOGIES[topology]
    path = tmp_path / "hosts.yml"
    path.write_text(render(TEMPLATES[topology], **inventory_context(Layout(Path("/var/lib/ghostlab")), topo)))
    shop = load_inventory(path).env("shop")
    assert shop.app.project == "shop" and shop.app.color_services == ["orders", "storefront"]
    assert shop.database.service == "db" and shop.lb.public_url == topo.shop_public_url
    assert shop.flag_path == "/var/lib/ghostlab/lb/shop-state/shop-active-green"
