"""Which deploy marker a finished run means, its Pushgateway text, and reading the last one back."""

from __future__ import annotations

import pytest

from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.observability.markers import Marker, exposition, group_url, last_marker, marker_for

T = 1796173200.0  # 2026-12-02 01:00:00 UTC


@pytest.mark.parametrize(
    ("task", "entry", "status"),
    [
        ("deploy.prod", {"result": "ok", "version": "v1.1.0", "color": "green"}, "deployed"),
        (
            "deploy.prod",
            {"result": "failed", "version": "v1.1.0", "color": "green", "failed_step": "migrate database"},
            "failed",
        ),
        ("deploy.prod", {"result": "interrupted", "version": "v1.1.0", "color": "green"}, "failed"),
        ("deploy.rollback", {"result": "ok", "version": "v1.0.0", "color": "blue"}, "rolled_back"),
        ("deploy.emergency-rollback", {"result": "ok", "version": "v1.0.0", "color": "blue"}, "rolled_back"),
        ("deploy.emergency-rollback", {"result": "failed", "version": "v1.0.0", "color": "blue"}, "failed"),
    ],
)
def test_marker_of_a_finished_run(task, entry, status):
    assert marker_for(task, HistoryEntry(**entry), T) == Marker(status, entry["version"], entry["color"], task, T)


@pytest.mark.parametrize(
    ("task", "entry"),
    [
        ("traffic.switch", {"result": "ok", "version": "v1.0.0", "color": "blue"}),  # not a deploy
        ("deploy.prod", {"result": "rolled_back", "version": "v1.1.0", "color": "green"}),  # published at the switch
        ("deploy.prod", {"result": "failed", "version": "v1.1.0"}),  # refused before it picked a colour
        ("deploy.prod", {"result": "failed", "version": "v1.1.0", "color": "blue", "failed_step": "preflight"}),
        ("deploy.rollback", {"result": "failed", "version": "v1.0.0", "color": "blue", "failed_step": "plan rollback"}),
        ("deploy.emergency-rollback", {"result": "failed", "version": None, "color": None}),
    ],
)
def test_no_marker(task, entry):
    assert marker_for(task, HistoryEntry(**entry), T) is None


def test_exposition_text_and_group():
    marker = Marker("deployed", "v1.1.0", "green", "deploy.prod", T)
    assert exposition(marker) == (
        "# HELP ghostworks_deploy_marker_timestamp_seconds When ghosttasks last deployed, rolled back or failed "
        "(status, version, colour).\n"
        "# TYPE ghostworks_deploy_marker_timestamp_seconds gauge\n"
        'ghostworks_deploy_marker_timestamp_seconds{status="deployed",version="v1.1.0",color="green",'
        'task="deploy.prod"} 1796173200.000\n'
    )
    assert (
        group_url("http://127.0.0.19:9091/", "prod") == "http://127.0.0.19:9091/metrics/job/ghosttasks/environment/prod"
    )
    assert marker.describe() == "deployed v1.1.0 on green at 2026-12-02 01:00:00 UTC (deploy.prod)"


def test_last_marker_of_the_environment():
    sample = {"labels": {"status": "rolled_back", "version": "v1.0.0", "color": "blue", "task": "deploy.rollback"}}
    groups = [
        {"labels": {"job": "other", "environment": "prod"}},
        {"labels": {"job": "ghosttasks", "environment": "staging"}},
        {
            "labels": {"job": "ghosttasks", "environment": "prod"},
            "ghostworks_deploy_marker_timestamp_seconds": {"metrics": [{**sample, "value": "1796173200"}]},
        },
    ]
    assert last_marker(groups, "prod") == Marker("rolled_back", "v1.0.0", "blue", "deploy.rollback", T)
    assert last_marker(groups, "staging") is None
    assert last_marker([], "prod") is None
