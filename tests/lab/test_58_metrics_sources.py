"""The triggers' data against the real lab: a deploy whose queries find no series is refused before the switch,
and the LB access log measures the users' real requests. That the access log alone fires the automatic rollback
is drilled once, in test_55_observability (with the marker and the api logs that rollback leaves).

Oracles are the world: the LB's flag file, what answers through the LB and directly on an app host, Prometheus'
own answer to the queries, the lab nginx's own access log (its `rt=` field, written beside ghosttasks' log) and
the requests this test sent itself.
"""

from __future__ import annotations

import json
import re
import statistics
import time

import httpx
import pytest

from lab.labctl.hosts import COLOR_PORTS
from tests.lab.world import LB_HEALTH, bring_to_serving, direct_health, lb_answers, with_prod_settings

PROMETHEUS = "http://127.0.0.14:9090"
LB = "http://127.0.0.10"
#: The access-log reading's monitoring.rate_window (the lab's is 20 s): it must hold this test's requests and
#: verify.monitor's start, and is waited out first so that it holds nothing else.
WINDOW_SECONDS = 8
NO_SUCH_ERRORS = 'sum(rate(no_such_requests_total{color="{color}",status=~"5.."}[{window}]))'
NO_SUCH_P95 = 'histogram_quantile(0.95, sum by (le) (rate(no_such_duration_seconds_bucket{color="{color}"}[{window}])))'


def flag(lab) -> tuple[bool, float | None]:
    path = lab.lb_state_dir / "ghostworks-active-green"
    return (True, path.stat().st_mtime) if path.exists() else (False, None)


def last_history(lab) -> dict:
    return json.loads((lab.lb_state_dir / "history.jsonl").read_text().splitlines()[-1])


def idle_answer(color: str) -> str:
    """What the colour's api on app1 answers directly: its version, or the error of nothing answering."""
    try:
        return direct_health("127.0.0.11", COLOR_PORTS[color]["api"])["version"]
    except httpx.HTTPError as exc:
        return type(exc).__name__


def query(promql: str) -> list:
    return httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"]


@pytest.fixture(scope="module")
def serving(lab, inv):
    """v1.1.0 serves on either colour, whatever the other one holds."""
    return bring_to_serving(lab, inv, ("v1.1.0",))[0]


def test_a_deploy_whose_queries_return_no_series_is_refused_before_the_switch(lab, inv, serving, tmp_path_factory):
    idle = "blue" if serving == "green" else "green"
    metrics = {"error_rate_query": NO_SUCH_ERRORS, "p95_query": NO_SUCH_P95}
    wrong = with_prod_settings(inv, tmp_path_factory.mktemp("no-series"), metrics=metrics)
    # The world first: the default preset finds the serving colour's series, the configured queries find none.
    assert query(f'ghostworks_http_requests_total{{color="{serving}",version="v1.1.0"}}')
    assert query(NO_SUCH_ERRORS.replace("{color}", serving).replace("{window}", "20s")) == []
    before = flag(lab)
    idle_before = idle_answer(idle)

    result = wrong("deploy.prod", "--version", "v1.2.0-slow", "--monitor-minutes", "0.5", "--yes")

    assert result.returncode == 1, result.stderr
    assert (
        f"the rollback triggers cannot be judged: {serving} (v1.1.0) serves but its error rate: no series, "
        "p95: no series; not deploying (nothing was switched)" in result.stderr
    )
    assert "metrics.error_rate_query" in result.stderr  # the hint names the settings
    assert flag(lab) == before  # the LB's flag file was not touched
    assert set(lb_answers(10)) == {(serving, "v1.1.0")}
    assert idle_answer(idle) == idle_before  # nothing started
    entry = last_history(lab)
    assert (entry["result"], entry["failed_step"], entry["version"]) == ("failed", "preflight", "v1.2.0-slow")


def test_the_access_log_measures_the_users_requests(lab, inv, serving, tmp_path_factory):
    folder = tmp_path_factory.mktemp("access-log")
    window = {"rate_window": f"{WINDOW_SECONDS}s"}
    from_log = with_prod_settings(inv, folder, metrics={"source": "access_log"}, monitoring=window)
    inv.ok("traffic.switch", serving, "--yes")  # the LB config that writes the log is installed (or already is)
    assert "access_log" in lab.selector_path.read_text()
    time.sleep(WINDOW_SECONDS + 1)  # nothing else goes through the LB: the window is empty now
    lab_log = lab.lb_dir / "access.log"
    already = len(lab_log.read_text().splitlines())
    sent = {"ok": 0, "not found": 0}
    with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for number in range(40):
            missing = number % 4 == 0
            response = client.get(f"{LB}/api/v1/no-such-route" if missing else LB_HEALTH)
            assert response.status_code == (404 if missing else 200)
            sent["not found" if missing else "ok"] += 1

    result = from_log("verify.monitor", "--minutes", "0.02")

    # The oracle: the lab nginx's own log of the same requests (its rt= is nginx's $request_time too).
    mine = lab_log.read_text().splitlines()[already:]
    times = sorted(float(re.search(r" rt=([0-9.]+)", line)[1]) for line in mine[:40])
    expected_p95 = statistics.quantiles(times, n=100, method="inclusive")[94]
    first = next(line for line in result.stdout.splitlines() if f"{serving}: " in line and "requests" in line)
    assert f"error rate 0.0%, p95 {expected_p95:.2f} s (LB access log, {sum(sent.values())} requests)" in first
    assert result.returncode == 0, result.stderr
