"""Observability, checked against the real Alertmanager, Pushgateway, webhook receiver and api logs.

Oracles are the world, never ghosttasks' own output: what the webhook receiver recorded at /oncall and
/escalation, the Pushgateway's and Prometheus' stored marker, the flag file on the LB, the history on the LB,
and the api containers' logs read with the docker CLI on each app host's own engine.

The automatic rollback drill reads its triggers from the LB access log alone (metrics.source access_log: the
users' requests, no Prometheus), so it also proves test_58_metrics_sources' claim that the access log fires the
rollback on its own; the Prometheus-fired one is test_30_faults'. It monitors as fast as the lab allows
(world.FAST_MONITORING): the drill release starts failing 15 s after it starts, the rest is the trigger's delay.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from lab.labctl.configs import alertmanager_config, alertmanager_receivers
from lab.labctl.hosts import FLAT
from tests.lab.world import FAST_MONITORING, bring_to_serving, docker, lb_answers, with_prod_settings

NO_MONITOR = ("--monitor-minutes", "0", "--yes")
ALERTMANAGER = "http://127.0.0.18:9093"
PUSHGATEWAY = "http://127.0.0.19:9091"
PROMETHEUS = "http://127.0.0.14:9090"
WEBHOOK = "http://127.0.0.15:8080"


def active(lab) -> str:
    return "green" if (lab.lb_state_dir / "ghostworks-active-green").exists() else "blue"


def pushed_marker() -> dict:
    """The marker labels and value the Pushgateway holds for prod (its own API)."""
    groups = httpx.get(f"{PUSHGATEWAY}/api/v1/metrics", timeout=5).json()["data"]
    group = next(g for g in groups if g["labels"].get("job") == "ghosttasks" and g["labels"]["environment"] == "prod")
    sample = group["ghostworks_deploy_marker_timestamp_seconds"]["metrics"][0]
    return {**sample["labels"], "value": float(sample["value"])}


def api_logs(lab, host: str, color: str) -> list[dict]:
    text = docker(lab, host, "logs", f"ghostworks-{color}-api-1").stdout
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def reload_alertmanager(lab, receivers) -> None:
    lab.alertmanager_config.write_text(alertmanager_config(FLAT, receivers))
    httpx.post(f"{ALERTMANAGER}/-/reload", timeout=5).raise_for_status()


@pytest.fixture(scope="module", autouse=True)
def serving(lab, inv):
    """A good release serves (the lab as the module before left it when one does): the first test deploys another
    (v1.1.0, or v1.0.0 over v1.1.0), which the drill rolls back to."""
    bring_to_serving(lab, inv)


def test_a_deploy_publishes_its_marker_and_prometheus_scrapes_it(lab, inv):
    before = time.time()
    state_file = lab.lb_state_dir / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"active": None}
    serving = state["colors"][state["active"]]["version"] if state["active"] else None
    version = "v1.0.0" if serving == "v1.1.0" else "v1.1.0"
    inv.ok("deploy.prod", "--version", version, *NO_MONITOR)
    color = active(lab)
    assert set(lb_answers(5)) == {(color, version)}
    marker = pushed_marker()
    assert (marker["status"], marker["version"], marker["color"], marker["task"]) == (
        "deployed",
        version,
        color,
        "deploy.prod",
    )
    assert before <= marker["value"] <= time.time()
    query = f'ghostworks_deploy_marker_timestamp_seconds{{status="deployed",version="{version}"}}'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        result = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
        if result and float(result[0]["value"][1]) == pytest.approx(marker["value"]):
            break
        time.sleep(0.25)  # Prometheus scrapes the Pushgateway every 2 s
    else:
        pytest.fail(f"Prometheus never scraped the marker: {query}")


def test_verify_all_covers_alerts_logs_and_markers(lab, inv):
    httpx.delete(f"{WEBHOOK}/events", timeout=5)
    before = {host: len(api_logs(lab, host, active(lab))) for host in ("app1", "app2")}
    result = inv.ok("verify.all")
    out = result.stdout
    token = re.search(r"test alert (\w+) delivered to oncall, escalation", out)
    assert token, out
    for path in ("/oncall", "/escalation"):
        events = httpx.get(f"{WEBHOOK}/events", params={"path": path}, timeout=5).json()
        labels = [alert["labels"] for event in events for alert in event["body"]["alerts"]]
        assert any(label.get("ghosttasks_test") == token[1] for label in labels), (path, labels)
    assert "Alertmanager route of GhostworksHighErrorRate: oncall (group_wait 1s" in out
    assert "escalation (group_wait 2s" in out
    assert "Pushgateway: last deploy marker deployed" in out
    # Correlation: the ids ghosttasks sent are in the logs of the hosts it names, as many as it says.
    color = active(lab)
    spread = re.search(r"correlation IDs: 10 of 10 requests found in the api logs \((.*)\)", out)
    assert spread, out
    claimed = dict(part.split() for part in spread[1].split(", "))
    for host in ("app1", "app2"):
        new = api_logs(lab, host, color)[before[host] :]
        ids = {line["request_id"] for line in new if line.get("request_id", "").startswith("ghosttasks-")}
        assert len(ids) == int(claimed.get(host, 0)), (host, ids, claimed)


def test_a_receiver_that_is_down_fails_verify_monitoring_naming_it(lab, inv):
    receivers = alertmanager_receivers()
    receivers[1]["url"] = "http://127.0.0.15:9/escalation"  # nothing listens on port 9
    reload_alertmanager(lab, receivers)
    try:
        result = inv("verify.monitoring")
    finally:
        reload_alertmanager(lab, alertmanager_receivers())
    assert result.returncode == 1
    line = [text for text in result.stderr.splitlines() if "not delivered" in text]
    assert line and "receiver escalation (http://127.0.0.15:9/escalation: ConnectError" in line[0], result.stderr
    assert "oncall" not in line[0].split("not delivered to")[1].split("(")[0]


def test_automatic_rollback_from_the_access_log_alone_publishes_its_marker_and_verify_logs_fails_on_the_errors(
    lab, inv, load_loop, tmp_path
):
    from_log = with_prod_settings(inv, tmp_path, metrics={"source": "access_log"}, monitoring=FAST_MONITORING)
    before_color, before_version = lb_answers(1)[0]
    with load_loop(max_seconds=180):
        result = from_log("deploy.prod", "--version", "v1.2.0-errors", "--monitor-minutes", "1", "--yes")
    assert result.returncode == 1 and "automatic rollback: API error rate" in result.stderr, result.stderr
    assert "(LB access log, " in result.stdout and "(prometheus)" not in result.stdout
    assert set(lb_answers(5)) == {(before_color, before_version)}
    assert active(lab) == before_color  # the flag file went back
    history = (lab.lb_state_dir / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["result"] == "rolled_back"
    marker = pushed_marker()
    assert (marker["status"], marker["version"], marker["color"]) == ("rolled_back", before_version, before_color)
    failed = "blue" if before_color == "green" else "green"
    errors = {host: sum(line["level"] == "ERROR" for line in api_logs(lab, host, failed)) for host in ("app1", "app2")}
    assert sum(errors.values()) > 0
    result = inv("verify.logs", "--color", failed)
    assert result.returncode == 1
    assert f"api logs of {failed}:" in result.stderr and "above thresholds.log_errors (0)" in result.stderr
    assert "ERROR ghostworks.api: injected fault" in result.stderr
    for host, count in errors.items():
        if count:
            assert f"{host} " in result.stderr.split("api logs of")[1]
