"""The log-pattern normaliser and the per-host log summary, by exact output."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ghosttasks.config.settings import LogSettings
from ghosttasks.decisions.log_patterns import LogLine, normalise, parse_line, summarise, top_patterns
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.flows.steps.logs import check_logs
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, env, prod


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("user 42 not found", "user <n> not found"),
        ("artifact 3f2b9c1e-8a7d-4e6f-9b0c-1d2e3f4a5b6c missing", "artifact <uuid> missing"),
        ("connect to 10.0.0.12:5432 refused after 3.5 s", "connect to <ip> refused after <n> s"),
        ("request ghosttasks-9f86d081884c7d659a2feaa0c55ad015 failed", "request ghosttasks-<hex> failed"),
        ("tenant 'acme' key \"k1\" rejected", "tenant <str> key <str> rejected"),
        ("retry   in\t-2 ms", "retry in <n> ms"),
        ("v2 api and http2 stay words", "v2 api and http2 stay words"),
        ("deadbeef is hex but facade is a word", "deadbeef is hex but facade is a word"),
        ("id 12ab34cd56", "id <hex>"),
    ],
)
def test_normalise(message, pattern):
    assert normalise(message) == pattern


def test_parse_json_and_plain_lines():
    line = parse_line(json.dumps({"level": "error", "logger": "ghostworks.api", "msg": "injected fault", "x": 1}))
    assert (line.level, line.message, line.is_error) == ("ERROR", "injected fault", True)
    assert line.pattern() == "ERROR ghostworks.api: injected fault"
    assert parse_line("Traceback: CRITICAL db gone 5 times") == LogLine(
        "CRITICAL", "Traceback: CRITICAL db gone 5 times", is_error=True
    )
    assert parse_line("{not json").level is None
    assert not parse_line('{"level": "INFO", "msg": "request"}').is_error


def test_exception_last_line_is_part_of_the_pattern():
    raw = json.dumps({"level": "ERROR", "msg": "unhandled error", "exc": "Traceback ...\n  File x\nKeyError: 'id 17'"})
    assert parse_line(raw).pattern() == "ERROR unhandled error (KeyError: <str>)"


def test_summarise_counts_errors_by_pattern_and_collects_request_ids():
    lines = [
        {"level": "INFO", "logger": "ghostworks.api", "msg": "request", "request_id": "a1"},
        {"level": "ERROR", "logger": "ghostworks.api", "msg": "user 4 not found", "request_id": "b2"},
        {"level": "ERROR", "logger": "ghostworks.api", "msg": "user 9 not found"},
        {"level": "CRITICAL", "logger": "ghostworks.db", "msg": "pool exhausted"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\nplain ERROR line 7\n"
    summary = summarise(text)
    assert (summary.lines, summary.error_count, summary.request_ids) == (5, 4, {"a1", "b2"})
    assert top_patterns(summary.errors) == [
        "2x ERROR ghostworks.api: user <n> not found",
        "1x CRITICAL ghostworks.db: pool exhausted",
        "1x ERROR plain ERROR line <n>",
    ]


def test_top_patterns_limit_and_ties():
    assert top_patterns(Counter({"b": 2, "a": 2, "c": 1}), limit=2) == ["2x a", "2x b"]


def test_verify_logs_refuses_an_environment_without_colours():
    recorder = PlanRecorder(env("staging"), Output(silent=True))
    with pytest.raises(OperationFailed, match="staging runs one stack"):
        check_logs(a_run(recorder, task="verify.logs"), None)
    assert recorder.entries == []


#: An app built another way: logs `severity`/`message`/`trace_id`, and counts WARNING as an error.
OTHER_JSON = LogSettings(
    level_key="severity", message_key="message", request_id_key="trace_id", error_levels=["error", "warning"]
)
#: Text lines such as `2026-12-07 10:01:02,345 ERROR [req-7] orders: payment 42 failed`.
TEXT = LogSettings(
    format="text",
    pattern=r"^\S+ \S+ (?P<level>[A-Z]+) \[(?P<request_id>[^\]]*)\] (?P<message>.*)$",
)


def test_json_lines_with_the_apps_own_keys_and_levels():
    lines = [
        {"severity": "info", "message": "GET /orders", "trace_id": "t1"},
        {"severity": "warning", "message": "slow query 812 ms", "trace_id": "t2"},
        {"severity": "error", "message": "payment 42 failed"},
        {"level": "ERROR", "msg": "the demo's keys mean nothing here"},
    ]
    summary = summarise("\n".join(json.dumps(line) for line in lines), OTHER_JSON)
    assert (summary.lines, summary.error_count, summary.request_ids) == (4, 2, {"t1", "t2"})
    assert top_patterns(summary.errors) == ["1x ERROR payment <n> failed", "1x WARNING slow query <n> ms"]
    # the default settings read the same lines as Ghostworks would: only the last one is an error
    assert summarise("\n".join(json.dumps(line) for line in lines)).error_count == 1
    assert parse_line("plain WARNING: disk 91% full", OTHER_JSON).is_error


def test_text_lines_by_pattern():
    text = (
        "2026-12-07 10:01:02,345 INFO [req-1] orders: GET /orders 200\n"
        "2026-12-07 10:01:03,001 ERROR [req-2] orders: payment 42 failed\n"
        "2026-12-07 10:01:04,001 ERROR [] orders: payment 7 failed\n"
        "Traceback (most recent call last): ERROR in a line the pattern does not match\n"
        "2026-12-07 10:01:05,001 CRITICAL [req-3] db: pool exhausted\n"
    )
    summary = summarise(text, TEXT)
    assert (summary.lines, summary.error_count, summary.request_ids) == (5, 3, {"req-1", "req-2", "req-3"})
    assert top_patterns(summary.errors) == ["2x ERROR orders: payment <n> failed", "1x CRITICAL db: pool exhausted"]
    line = parse_line("2026-12-07 10:01:02,345 WARN [r9] cache: miss", TEXT)
    assert (line.level, line.message, line.request_id, line.is_error) == ("WARN", "cache: miss", "r9", False)
    assert parse_line("not a log line", TEXT) == LogLine(None, "not a log line")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"format": "text"}, "pattern: required with format: text (named groups level and message)"),
        ({"format": "text", "pattern": "(?P<level>"}, "pattern: not a regular expression: missing ), unterminated"),
        ({"format": "text", "pattern": "(?P<level>\\w+) (?P<msg>.*)"}, "pattern: no named group message"),
        (
            {"format": "text", "pattern": "(?P<level>\\w+) (?P<message>.*)"},
            "pattern: no named group request_id, which the correlation check needs (or correlation: false)",
        ),
        ({"error_levels": []}, "error_levels: List should have at least 1 item"),
        ({"request_id_header": "X Request"}, "request_id_header: String should match pattern"),
    ],
)
def test_log_settings_errors_name_the_key(tmp_path, settings, message):
    import yaml

    from ghosttasks.config.inventory import load_inventory
    from ghosttasks.domain.errors import ConfigError
    from ghosttasks.testing import SHIPPED_INVENTORY

    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    data["environments"]["prod"]["logs"] = settings
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(f"{path}: environments.prod.logs")
    assert message in str(caught.value)


def test_a_text_pattern_without_request_id_is_fine_without_correlation():
    settings = LogSettings(format="text", pattern="(?P<level>\\w+) (?P<message>.*)", correlation=False)
    assert parse_line("ERROR boom", settings).is_error


def _logs_run(logs_output: str, **logs):
    environment = prod().model_copy(update={"logs": LogSettings(**logs)})
    executor = ScriptedExecutor(environment, unscripted="assume").on("logs --no-color", logs_output)
    return executor, a_run(executor, task="verify.logs")


def test_verify_logs_without_correlation_says_not_configured_and_sends_nothing():
    line = json.dumps({"level": "INFO", "msg": "GET /api/v1/health"})
    executor, run = _logs_run(line + "\n", correlation=False)
    check_logs(run, "green")
    printed = run.out.printed
    assert "correlation: not configured (logs.correlation: false)" in printed
    assert "correlation IDs" not in printed and "ok correlation" not in printed
    assert not [entry for entry in executor.entries if entry.startswith("probe ")]
    assert "app1: 1 api log lines since" in printed


def test_verify_logs_with_no_line_in_the_window_says_so():
    _, run = _logs_run("", correlation=False)
    check_logs(run, "green")
    printed = run.out.printed
    assert "app1 log errors: no api log line since" in printed
    assert "app2 log errors: no api log line since" in printed
    assert "0 ERROR/CRITICAL" not in printed


def test_verify_logs_reads_every_log_role_service():
    environment = prod().model_copy(
        update={
            "app": prod().app.model_copy(update={"roles": prod().app.roles.model_copy(update={"logs": ["api", "web"]})})
        }
    )
    executor = ScriptedExecutor(environment, unscripted="assume", dry_run=True)
    check_logs(a_run(executor, task="verify.logs"), "green")
    reads = [command.command for command in executor.commands if " logs " in command.command]
    assert reads and all(command.endswith("--tail 50000 api web") for command in reads)
