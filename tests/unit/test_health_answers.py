"""The health contract (hosts.yml `health:`): answers judged by exact output; the settings' one-line errors."""

import json

import pytest
import yaml

from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import HealthSettings
from ghosttasks.decisions.health_answers import (
    DEFAULT,
    DatabaseSaid,
    Judged,
    database,
    expectation,
    judge,
    read_path,
    tag_from,
    written_as,
)
from ghosttasks.domain.errors import ConfigError
from ghosttasks.testing import SHIPPED_INVENTORY

GHOSTWORKS = json.dumps({"status": "ok", "version": "v1.1.0", "checks": {"database": "ok", "redis": "ok"}})
STATUS_ONLY = HealthSettings(checks={}, version_from="none", database_field=None)
NUMBERED = HealthSettings(checks={"status": ["ok", "healthy"]}, version_format="{number}", version_field="build.tag")
BY_HEADER = HealthSettings(checks={}, version_from="header", version_field="X-App-Version", status_codes=[200, 204])


def j(settings, status, body="", headers=None, version=None):
    text = body if isinstance(body, str) else json.dumps(body)
    return judge(settings, status, headers or {}, text, expect_version=version)


CASES = [
    # the Ghostworks defaults: HTTP 200, status ok, the version field
    (DEFAULT, 200, GHOSTWORKS, None, "v1.1.0", Judged(True, "", "v1.1.0", "v1.1.0", "status ok")),
    (DEFAULT, 200, GHOSTWORKS, None, None, Judged(True, "", "v1.1.0", "v1.1.0", "status ok")),
    (
        DEFAULT,
        200,
        {"status": "ok", "version": "v1.0.0"},
        None,
        "v1.1.0",
        Judged(False, "answers version 'v1.0.0', expected 'v1.1.0'", "v1.0.0", "v1.0.0", "status ok"),
    ),
    (
        DEFAULT,
        200,
        {"status": "ok"},
        None,
        "v1.1.0",
        Judged(False, "no version in the answer (JSON field version), expected 'v1.1.0'", None, "missing", "status ok"),
    ),
    (DEFAULT, 200, {"status": "ok"}, None, None, Judged(True, "", None, "missing", "status ok")),
    (DEFAULT, 503, {"status": "error"}, None, None, Judged(False, "HTTP 503 status error", status="status error")),
    (DEFAULT, 502, "<html>bad gateway</html>", None, None, Judged(False, "HTTP 502")),
    (
        DEFAULT,
        200,
        {"status": "starting"},
        None,
        None,
        Judged(False, "status 'starting', expected status 'ok'", status="status starting"),
    ),
    (DEFAULT, 200, "<html>", None, None, Judged(False, "the answer is not JSON, expected status 'ok'")),
    (DEFAULT, 200, {"healthy": True}, None, None, Judged(False, "status missing, expected status 'ok'")),
    # status code alone: any body, no version in the answer
    (STATUS_ONLY, 200, "OK", None, "v1.1.0", Judged(True, "", None, "not configured")),
    (STATUS_ONLY, 500, "oops", None, "v1.1.0", Judged(False, "HTTP 500")),
    # several accepted values, a dotted version field written without the v
    (
        NUMBERED,
        200,
        {"status": "healthy", "build": {"tag": "1.1.0"}},
        None,
        "v1.1.0",
        Judged(True, "", "v1.1.0", "v1.1.0", "status healthy"),
    ),
    (
        NUMBERED,
        200,
        {"status": "degraded", "build": {"tag": "1.1.0"}},
        None,
        "v1.1.0",
        Judged(False, "status 'degraded', expected status 'ok' or 'healthy'", status="status degraded"),
    ),
    (
        NUMBERED,
        200,
        {"status": "ok", "build": {"tag": "1.0.0"}},
        None,
        "v1.1.0",
        Judged(False, "answers version '1.0.0', expected '1.1.0'", "v1.0.0", "v1.0.0", "status ok"),
    ),
    (
        NUMBERED,
        200,
        {"status": "ok", "build": {"tag": "v1.1.0"}},
        None,
        "v1.1.0",
        Judged(False, "answers version 'v1.1.0', expected '1.1.0'", None, "'v1.1.0'", "status ok"),
    ),
    # the version in a header, 204 accepted, header names case-insensitive
    (BY_HEADER, 204, "", {"x-app-version": "v1.1.0"}, "v1.1.0", Judged(True, "", "v1.1.0", "v1.1.0")),
    (
        BY_HEADER,
        200,
        "",
        {},
        "v1.1.0",
        Judged(False, "no version in the answer (header X-App-Version), expected 'v1.1.0'", None, "missing"),
    ),
]


@pytest.mark.parametrize(("settings", "status", "body", "headers", "version", "expected"), CASES)
def test_answers_are_judged_exactly(settings, status, body, headers, version, expected):
    assert j(settings, status, body, headers, version) == expected


def test_every_entry_of_an_object_and_json_values_other_than_strings():
    settings = HealthSettings(checks={"checks.*": ["ok"], "ready": [True]}, version_from="none")
    assert j(settings, 200, {"checks": {"db": "ok", "cache": "ok"}, "ready": True}).ok
    assert j(settings, 200, {"checks": {"db": "ok", "cache": "down"}, "ready": True}) == Judged(
        False, "checks.cache 'down', expected checks.cache 'ok'"
    )
    assert j(settings, 200, {"checks": {"db": "ok"}, "ready": False}) == Judged(
        False, "ready false, expected ready 'true'"
    )
    assert j(settings, 200, {"checks": {}, "ready": True}) == Judged(False, "checks.* missing, expected checks.* 'ok'")


def test_paths_and_version_forms():
    assert read_path({"a": {"b": [1, {"c": 2}]}}, "a.b.*") == [("a.b.0", 1), ("a.b.1", {"c": 2})]
    assert read_path({"a": 1}, "a.b") == [] and read_path("text", "a") == []
    assert written_as("v3.1.0", "{number}") == "3.1.0" and written_as("v3.1.0", "release-{tag}") == "release-v3.1.0"
    assert tag_from("3.1.0", "{number}") == "v3.1.0" and tag_from("release-v3.1.0", "release-{tag}") == "v3.1.0"
    assert (
        tag_from("3.1.0", "release-{tag}") is None
        and tag_from("v3.1.0", "{number}") is None
        and tag_from("release-", "release-{tag}") is None
    )


def test_plan_lines_say_what_a_healthy_answer_is():
    assert expectation(DEFAULT, "v1.1.0") == "HTTP 200, status ok, version v1.1.0"
    assert expectation(DEFAULT, None) == "HTTP 200, status ok"
    assert expectation(NUMBERED, "v1.1.0") == "HTTP 200, status ok or healthy, build.tag 1.1.0"
    assert expectation(BY_HEADER, "v1.1.0") == "HTTP 200/204, version v1.1.0 (header X-App-Version)"
    assert expectation(STATUS_ONLY, "v1.1.0") == (
        "HTTP 200, version not configured (then the containers' images are checked)"
    )


def test_the_database_reading_is_never_ok_when_it_cannot_be_said():
    body = json.loads(GHOSTWORKS)
    assert database(DEFAULT, body) == DatabaseSaid(True, "ok")
    assert database(DEFAULT, {"checks": {"database": "down"}}) == DatabaseSaid(False, "checks.database down")
    assert database(DEFAULT, {"status": "ok"}) == DatabaseSaid(None, "checks.database missing from the answer")
    assert database(DEFAULT, {}) == DatabaseSaid(None, "checks.database missing from the answer")
    assert database(DEFAULT, None) == DatabaseSaid(None, "no health answer")
    assert database(STATUS_ONLY, body) == DatabaseSaid(None, "not configured")
    custom = HealthSettings(database_field="deps.postgres.healthy", database_ok=[True])
    assert database(custom, {"deps": {"postgres": {"healthy": True}}}) == DatabaseSaid(True, "ok")
    assert database(custom, {"deps": {"postgres": {"healthy": False}}}) == DatabaseSaid(
        False, "deps.postgres.healthy false"
    )


def _load(tmp_path, health=None, lb=None):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    prod = data["environments"]["prod"]
    if health is not None:
        prod["health"] = health
    if lb:
        prod["lb"].update(lb)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    try:
        return load_inventory(path).env("prod")
    except ConfigError as exc:
        return str(exc).replace(str(path), "hosts.yml")


def test_defaults_are_the_ghostworks_contract(tmp_path):
    env = _load(tmp_path)
    assert env.health == DEFAULT and env.lb.color_header == "X-Served-Color"
    assert env.health.model_dump() == {
        "status_codes": [200],
        "checks": {"status": ["ok"]},
        "version_from": "json",
        "version_field": "version",
        "version_format": "{tag}",
        "database_field": "checks.database",
        "database_ok": ["ok"],
    }


def test_a_written_contract_loads(tmp_path):
    env = _load(
        tmp_path,
        {
            "status_codes": [200, 204],
            "checks": {"status": ["ok", "healthy"], "checks.*": ["up"]},
            "version_from": "header",
            "version_field": "X-App-Version",
            "version_format": "{number}",
            "database_field": None,
        },
        {"color_header": "X-Colour"},
    )
    assert env.health.checks == {"status": ["ok", "healthy"], "checks.*": ["up"]}
    assert env.health.database_field is None and env.lb.color_header == "X-Colour"


P = "hosts.yml: environments.prod.health"
BAD = [
    ({"status_codes": [700]}, f"{P}.status_codes: 700 is not an HTTP status (100-599)"),
    ({"status_codes": []}, f"{P}.status_codes: List should have at least 1 item after validation, not 0"),
    ({"checks": {"status..x": ["ok"]}}, f"{P}.checks: 'status..x' is not a dotted JSON path (e.g. checks.database)"),
    ({"checks": {"status": []}}, f"{P}.checks: status: no accepted values (list at least one, or remove the check)"),
    ({"checks": {"status": "ok"}}, f"{P}.checks.status: Input should be a valid list"),
    ({"version_from": "xml"}, f"{P}.version_from: Input should be 'json', 'header' or 'none'"),
    (
        {"version_format": "v{number}{tag}"},
        f"{P}.version_format: 'v{{number}}{{tag}}': write {{tag}} or {{number}}, exactly once",
    ),
    ({"version_format": "{version}"}, f"{P}.version_format: '{{version}}': write {{tag}} or {{number}}, exactly once"),
    (
        {"version_format": "{tag}-{x}"},
        f"{P}.version_format: '{{tag}}-{{x}}': only {{tag}} or {{number}} may stand in braces",
    ),
    (
        {"version_from": "header", "version_field": "X App"},
        f"{P}: version_field: 'X App' is not a header name (version_from: header)",
    ),
    (
        {"database_field": "checks. database"},
        f"{P}.database_field: 'checks. database' is not a dotted JSON path (e.g. checks.database)",
    ),
    ({"database_ok": []}, f"{P}.database_ok: List should have at least 1 item after validation, not 0"),
    ({"colour": "x"}, f"{P}.colour: unknown key"),
]


@pytest.mark.parametrize(("health", "message"), BAD)
def test_a_bad_contract_is_one_line_naming_the_key(tmp_path, health, message):
    assert _load(tmp_path, health) == message


def test_a_bad_colour_header_names_the_key(tmp_path):
    assert _load(tmp_path, lb={"color_header": "X Colour"}) == (
        "hosts.yml: environments.prod.lb.color_header: String should match pattern '^[A-Za-z0-9][A-Za-z0-9-]*$'"
    )
