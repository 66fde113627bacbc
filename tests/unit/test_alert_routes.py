"""The Alertmanager route tree walk, the counters of its /metrics page and the test alert, by exact output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ghosttasks.decisions.alert_routes import Destination, destinations, integrations, parse_matcher, webhook_urls
from ghosttasks.observability.alertmanager import Counters, counters, synthetic_alert

CONFIG = {
    "route": {
        "receiver": "oncall",
        "group_by": ["alertname", "color"],
        "group_wait": "1s",
        "group_interval": "5s",
        "routes": [
            {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True},
            {"matchers": ["severity=critical"], "receiver": "escalation", "group_wait": "2s"},
            {"match": {"team": "db"}, "receiver": "dba"},
        ],
    },
    "receivers": [
        {"name": "oncall", "webhook_configs": [{"url": "http://127.0.0.15:8080/oncall"}]},
        {"name": "escalation", "webhook_configs": [{"url": "http://127.0.0.15:8080/escalation"}]},
        {"name": "dba", "email_configs": [{"to": "a@b"}, {"to": "c@d"}]},
    ],
}


def test_critical_alert_pages_oncall_then_escalation_with_inherited_timings():
    ends = destinations(CONFIG["route"], {"alertname": "GhostworksHighErrorRate", "severity": "critical"})
    assert ends == [
        Destination("oncall", ("alertname", "color"), "1s", "5s"),
        Destination("escalation", ("alertname", "color"), "2s", "5s"),
    ]
    assert ends[1].describe() == "escalation (group_wait 2s, group_interval 5s, by alertname, color)"


def test_no_matching_child_ends_on_the_root_and_defaults_fill_unset_timings():
    assert destinations({"receiver": "null"}, {"severity": "info"}) == [Destination("null", (), "30s", "5m")]
    assert destinations(CONFIG["route"], {"severity": "warning"}) == [
        Destination("oncall", ("alertname", "color"), "1s", "5s")
    ]


def test_first_match_without_continue_stops_the_walk():
    assert [end.receiver for end in destinations(CONFIG["route"], {"team": "db"})] == ["dba"]
    route = {"receiver": "r", "routes": [{"match_re": {"team": "d.*"}, "receiver": "a"}, {"receiver": "b"}]}
    assert [end.receiver for end in destinations(route, {"team": "db"})] == ["a"]
    assert [end.receiver for end in destinations(route, {"team": "xdb"})] == ["b"]  # anchored


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('severity="critical"', ("severity", "=", "critical")),
        ("severity = critical", ("severity", "=", "critical")),
        ('env!="dev"', ("env", "!=", "dev")),
        ('team=~"a|b"', ("team", "=~", "a|b")),
        ('x!~"y\\"z"', ("x", "!~", 'y"z')),
    ],
)
def test_matchers(text, parsed):
    assert parse_matcher(text) == parsed


def test_a_broken_matcher_is_refused():
    with pytest.raises(ValueError, match="not an Alertmanager matcher"):
        parse_matcher("=critical")


def test_receivers_urls_and_integrations():
    assert webhook_urls(CONFIG, "escalation") == ["http://127.0.0.15:8080/escalation"]
    assert webhook_urls(CONFIG, "dba") == []
    assert (integrations(CONFIG, "oncall"), integrations(CONFIG, "dba"), integrations(CONFIG, "nobody")) == (1, 2, 0)


def test_counters_sum_every_integration_and_delivery_is_attempts_minus_failures():
    page = (
        "# HELP alertmanager_notification_requests_total The total number of attempted notification requests.\n"
        'alertmanager_notification_requests_total{integration="email"} 2\n'
        'alertmanager_notification_requests_total{integration="webhook"} 7\n'
        'alertmanager_notification_requests_failed_total{integration="webhook"} 3\n'
        'alertmanager_notifications_total{integration="webhook"} 4\n'
    )
    now = counters(page)
    assert now == Counters(9, 3)
    assert (now.delivered_since(Counters(4, 1)), now.failed_since(Counters(4, 1))) == (3, 2)


def test_test_alert_has_the_route_labels_a_unique_name_and_a_short_expiry():
    now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    assert synthetic_alert("ab12cd34", {"severity": "critical"}, now, 50) == [
        {
            "labels": {
                "severity": "critical",
                "alertname": "GhosttasksTestAlert_ab12cd34",
                "ghosttasks_test": "ab12cd34",
            },
            "annotations": {"summary": "ghosttasks verify.monitoring test alert: proves the channel, ignore it"},
            "startsAt": "2026-12-02T01:00:00+00:00",
            "endsAt": "2026-12-02T01:00:50+00:00",
        }
    ]
