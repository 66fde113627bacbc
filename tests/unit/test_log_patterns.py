"""The log-pattern normaliser and the per-host log summary, by exact output."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ghosttasks.decisions.log_patterns import LogLine, normalise, parse_line, summarise, top_patterns
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.flows.steps.logs import check_logs
from ghosttasks.terminal.output import Output
from ghosttasks.testing import a_run, env


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
        "CRITICAL", "Traceback: CRITICAL db gone 5 times"
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
