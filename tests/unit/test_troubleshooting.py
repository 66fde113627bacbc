"""The performance troubleshooting's pure parts: pg_stat_activity, the blocking tree, connection groups,
pg_stat_statements, memory growth, slow requests (the demo's JSON lines and the shop's text lines); exact outputs.
Then its flows over a scripted executor: db.activity, db.slow, stack.memory, verify.logs --slow, and stack.restart
of a shared service (refused before anything runs, unless --yes on a terminal)."""

import json
import re
from pathlib import Path

import pytest

from ghosttasks.config.settings import LogSettings
from ghosttasks.decisions import db_activity, memory_growth, slow_requests
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows import performance
from ghosttasks.testing import Answer, ScriptedExecutor, a_run, prod

ROOT = Path(__file__).resolve().parents[2]

ACTIVITY = json.dumps(
    {
        "max_connections": 100,
        "sessions": [
            {"pid": 10, "application": "", "client": None, "backend": "checkpointer"},
            {
                "pid": 101,
                "application": "psql",
                "client": "127.0.0.1",
                "backend": "client backend",
                "state": "idle in transaction",
                "query_seconds": 20.04,
                "xact_seconds": 21.5,
                "query": "UPDATE users SET password = 'hunter2secret' WHERE id = 1",
            },
            {
                "pid": 102,
                "application": "ghostworks-blue",
                "client": "10.0.1.11",
                "backend": "client backend",
                "state": "active",
                "wait_type": "Lock",
                "wait": "transactionid",
                "query_seconds": 12.0,
                "query": "UPDATE users\n   SET name = 'x' WHERE id = 1",
                "blocked_by": [101],
                "waiting_for": "ShareLock on transactionid",
            },
            {
                "pid": 103,
                "application": "ghostworks-green",
                "client": "10.0.1.12",
                "backend": "client backend",
                "state": "active",
                "query_seconds": 7.9,
                "query": "SELECT pg_sleep(8)",
            },
            {
                "pid": 104,
                "application": "ghostworks-green",
                "client": "10.0.1.12",
                "backend": "client backend",
                "state": "idle",
                "query": "SELECT 1",
            },
        ],
    }
)
HOSTS = {"10.0.1.11": "app1", "10.0.1.12": "app2"}


def test_query_texts_are_shortened_and_their_literals_masked():
    assert db_activity.shorten("SELECT  *\n FROM t WHERE a = 'it''s secret' AND b = $x$pw$x$") == (
        "SELECT * FROM t WHERE a = '?' AND b = '?'"
    )
    assert db_activity.shorten("SELECT " + "x, " * 100, limit=20) == "SELECT x, x, x, x, …"


def test_long_running_and_idle_in_transaction():
    reading = db_activity.parse(ACTIVITY)
    assert [s.pid for s in db_activity.long_running(reading, 5)] == [102, 103]
    assert [s.pid for s in db_activity.long_running(reading, 10)] == [102]
    assert [s.pid for s in db_activity.idle_in_transaction(reading)] == [101]
    assert "hunter2secret" not in repr(reading)


def test_blocking_tree_names_the_waiter_its_blocker_and_both_queries():
    assert db_activity.blocking_tree(db_activity.parse(ACTIVITY)) == [
        "pid 101 psql 20.0 s idle in transaction: UPDATE users SET password = '?' WHERE id = 1  [blocks 1]",
        "  └ pid 102 ghostworks-blue 12.0 s active: UPDATE users SET name = '?' WHERE id = 1  "
        "[waits Lock/transactionid wants ShareLock on transactionid]",
    ]


def test_a_lock_cycle_is_shown_once():
    cycle = db_activity.Activity(
        100,
        (
            db_activity.Session(1, state="active", blocked_by=(2,)),
            db_activity.Session(2, state="active", blocked_by=(1,)),
        ),
    )
    lines = db_activity.blocking_tree(cycle)
    assert lines[0].startswith("pid 1 ") and lines[1].strip().startswith("└ pid 2") and lines[2].endswith("(cycle)")


def test_connections_grouped_like_pg_stat_activity_and_mapped_to_hosts_and_colours():
    groups = db_activity.connection_groups(db_activity.parse(ACTIVITY), HOSTS)
    assert [(g.application, g.client, g.host, g.color, g.count) for g in groups] == [
        ("ghostworks-green", "10.0.1.12", "app2", "green", 2),
        ("", None, "local socket", "?", 1),
        ("ghostworks-blue", "10.0.1.11", "app1", "blue", 1),
        ("psql", "127.0.0.1", "?", "?", 1),
    ]
    # behind NAT (or on one machine) the app names its host's address after @
    assert db_activity.host_of("ghostworks-blue@10.0.1.12", "127.0.0.1", HOSTS) == "app2"
    assert db_activity.host_of("ghostworks-blue@10.9.9.9", "127.0.0.1", HOSTS) == "?"
    assert db_activity.host_of("x", None, HOSTS) == "local socket"
    assert db_activity.per_color(groups) == {"?": 2, "blue": 1, "green": 2}
    assert db_activity.usage_line(db_activity.parse(ACTIVITY)) == "4 of 100 connections in use (4 %)"
    assert db_activity.color_of("bluebird") is None and db_activity.color_of("api_green") == "green"
    assert db_activity.color_of("api-green") == "green"


def test_statements_and_how_to_enable_them():
    text = json.dumps(
        [
            {"id": "1", "calls": 100, "total_ms": 50.0, "mean_ms": 0.5, "rows": 100, "query": "SELECT $1"},
            {"id": "2", "calls": 1, "total_ms": 8000.0, "mean_ms": 8000.0, "rows": 1, "query": "SELECT pg_sleep($1)"},
        ]
    )
    found = db_activity.parse_statements(text)
    assert [s.id for s in db_activity.top_statements(found, "total_ms", 1)] == ["2"]
    assert [(s.calls, s.query) for s in db_activity.top_statements(found, "calls", 2)] == [
        (100, "SELECT $1"),
        (1, "SELECT pg_sleep($1)"),
    ]
    assert db_activity.statements_missing({"installed": True, "preloaded": True}) is None
    assert "shared_preload_libraries" in db_activity.statements_missing({"installed": False, "preloaded": False})
    assert db_activity.statements_missing({"installed": False, "preloaded": True}) == (
        "pg_stat_statements is loaded but not created in this database: run CREATE EXTENSION pg_stat_statements"
    )


SAMPLE = (
    "ghostworks-blue-api-1\t52.3MiB / 7.7GiB\n"
    "ghostworks-postgres-1\t1.2GiB / 7.7GiB\n"
    "gone-1\t1MiB / 1GiB\n"
    "--- inspect\n"
    "/ghostworks-blue-api-1\t0\t2026-12-07T10:00:00Z\n"
    "/ghostworks-postgres-1\t2\t2026-12-07T09:00:00Z\n"
)


def test_memory_sample_parser():
    assert memory_growth.parse_sample(SAMPLE) == {
        "ghostworks-blue-api-1": memory_growth.Reading(
            "ghostworks-blue-api-1", int(52.3 * 1024**2), 0, "2026-12-07T10:00:00Z"
        ),
        "ghostworks-postgres-1": memory_growth.Reading(
            "ghostworks-postgres-1", int(1.2 * 1024**3), 2, "2026-12-07T09:00:00Z"
        ),
    }
    assert memory_growth.parse_size("0B") == 0 and memory_growth.parse_size("1.5kB") == 1500


def _series(values_mib, *, restarts=None, step=10.0):
    restarts = restarts or [0] * len(values_mib)
    return [
        (i * step, memory_growth.Reading("c", int(v * memory_growth.MIB), r, "t"))
        for i, (v, r) in enumerate(zip(values_mib, restarts, strict=True))
    ]


def test_only_growing_past_the_threshold_is_flagged():
    leak = memory_growth.judge("app1", "c", _series([50, 52, 54, 57, 59, 62, 64]), 1.0)
    assert leak.flagged and leak.reason == "only grows: +14.0 MiB/min over 7 samples"
    assert leak.sparkline == "▁▂▃▅▅▇█"


def test_steady_slow_noisy_restarted_and_short_series_are_not_flagged():
    steady = memory_growth.judge("app1", "c", _series([50, 50.1, 49.9, 50, 50.2, 50, 50]), 1.0)
    assert not steady.flagged and steady.reason == "steady"
    slow = memory_growth.judge("app1", "c", _series([50, 50.3, 50.6, 50.9], step=60), 1.0)
    assert not slow.flagged and slow.reason == "grows slowly (under the threshold)"
    sawtooth = memory_growth.judge("app1", "c", _series([50, 60, 52, 62, 54, 64]), 1.0)
    assert not sawtooth.flagged and not sawtooth.only_grows
    restarted = memory_growth.judge("app1", "c", _series([50, 60, 70, 80], restarts=[0, 0, 1, 1]), 1.0)
    assert not restarted.flagged and restarted.reason == "restarted 1x during the window"
    short = memory_growth.judge("app1", "c", _series([50, 90]), 1.0)
    assert not short.flagged and short.reason == "not judged: 2 samples (at least 3)"


LOG = "\n".join(
    [
        '{"level": "INFO", "msg": "request", "method": "GET", "path": "/api/v1/artifacts/42", "status": 200, '
        '"request_id": "r1", "duration_ms": 2500.0, "ts": "t1"}',
        '{"level": "INFO", "msg": "request", "method": "GET", "path": "/api/v1/artifacts/7?q=***", "status": 200, '
        '"request_id": "r2", "duration_ms": 3100.5, "ts": "t2"}',
        '{"level": "INFO", "msg": "request", "method": "GET", "path": "/api/v1/health", "status": 200, '
        '"request_id": "r3", "duration_ms": 1.2, "ts": "t3"}',
        '{"level": "INFO", "msg": "starting"}',
        "plain text line",
    ]
)


def test_slow_requests_per_endpoint_pattern_with_their_ids():
    requests = slow_requests.parse_requests(LOG, LogSettings())
    assert requests == [
        slow_requests.Request("GET /api/v1/artifacts/<id>", 2.5, "r1", "200", "t1", "GET"),
        slow_requests.Request("GET /api/v1/artifacts/<id>", 3.101, "r2", "200", "t2", "GET"),
        slow_requests.Request("GET /api/v1/health", 0.001, "r3", "200", "t3", "GET"),
    ]
    found = slow_requests.slowest(requests, 2.0)
    assert [(e.pattern, e.count, e.slow, [(r.request_id, r.seconds) for r in e.slowest]) for e in found] == [
        ("GET /api/v1/artifacts/<id>", 2, 2, [("r2", 3.101), ("r1", 2.5)])
    ]
    assert slow_requests.slowest(requests, 5.0) == []
    assert slow_requests.parse_requests(LOG, LogSettings(duration_key="elapsed")) == []


def test_slow_requests_read_the_apps_own_json_keys_and_never_invent_a_missing_field():
    settings = LogSettings(
        duration_key="took",
        duration_unit="s",
        path_key="url",
        request_id_key="trace",
        method_key="verb",
        status_key="code",
        time_key="@timestamp",
    )
    lines = "\n".join(
        [
            '{"verb": "POST", "url": "/orders/9", "code": 201, "trace": "t-1", "took": 1.25, "@timestamp": "x"}',
            '{"url": "/orders", "took": 0.5}',
            '{"method": "GET", "path": "/demo", "duration_ms": 900, "request_id": "r9", "status": 200}',
        ]
    )
    assert slow_requests.parse_requests(lines, settings) == [
        slow_requests.Request("POST /orders/<id>", 1.25, "t-1", "201", "x", "POST"),
        slow_requests.Request("/orders", 0.5, None, None, None, None),
    ]


def _shop_lines() -> tuple[LogSettings, str]:
    """The shop's logs: its own logger's text lines (lab/app2/shop) and the lab inventory's pattern for them."""
    template = (ROOT / "lab" / "templates" / "shop-env.yml.j2").read_text()
    pattern = re.search(r"^\s+pattern: '(.+)'$", template, re.M).group(1)
    settings = LogSettings(format="text", pattern=pattern, request_id_header="X-Correlation-ID")
    lines = "\n".join(
        [
            "2026-12-07 10:00:00,101 INFO [rid=3f2a9c1d] GET /orders 200 2412.7ms",
            "2026-12-07 10:00:00,250 INFO [rid=77b0e2aa] POST /orders 201 35.0ms",
            "2026-12-07 10:00:01,003 INFO [rid=c0ffee00] GET /orders 200 3.1ms",
            "2026-12-07 10:00:01,010 ERROR [rid=d00d] GET /orders failed: boom",
            "2026-12-07 10:00:02,000 INFO [rid=-] listening on 0.0.0.0:8001",
        ]
    )
    return settings, lines


def test_slow_requests_in_text_logs_by_the_patterns_named_groups():
    settings, lines = _shop_lines()
    assert slow_requests.missing_groups(settings) == []
    assert slow_requests.parse_requests(lines, settings) == [
        slow_requests.Request("GET /orders", 2.413, "3f2a9c1d", "200", "2026-12-07 10:00:00,101", "GET"),
        slow_requests.Request("POST /orders", 0.035, "77b0e2aa", "201", "2026-12-07 10:00:00,250", "POST"),
        slow_requests.Request("GET /orders", 0.003, "c0ffee00", "200", "2026-12-07 10:00:01,003", "GET"),
    ]
    bare = LogSettings(
        format="text",
        pattern=r"(?P<level>\S+) (?P<message>(?P<path>/\S*) (?P<duration>[\d.]+)s)",
        duration_unit="s",
        correlation=False,
    )
    assert slow_requests.parse_requests("INFO /orders/7 1.5s", bare) == [
        slow_requests.Request("/orders/<id>", 1.5, None, None, None, None)
    ]
    without = LogSettings(format="text", pattern=r"(?P<level>\S+) (?P<message>.*)", correlation=False)
    assert slow_requests.missing_groups(without) == ["duration", "path"]
    assert slow_requests.missing_groups(LogSettings()) == []


# --- the flows over a scripted executor: what an on-call engineer reads ----------------------------------------


def test_activity_prints_the_long_queries_the_blocking_tree_and_the_connections():
    executor = ScriptedExecutor(prod()).on("pg_stat_activity", ACTIVITY, host="db1")
    run = a_run(executor, task="db.activity")
    performance.activity(run, threshold=5, as_json=False)
    printed = run.out.printed
    assert "4 of 100 connections in use (4 %)" in printed
    assert "pg_sleep(8)" in printed and "hunter2secret" not in printed
    assert "└ pid 102 ghostworks-blue 12.0 s active" in printed
    assert "per colour: ?" in printed and "blue 1" in printed and "green 2" in printed
    assert [c.command for c in executor.commands if "psql" in c.command] and all(
        c.host == "db1" for c in executor.commands
    )


def test_slow_says_how_to_enable_pg_stat_statements_when_it_is_missing():
    executor = ScriptedExecutor(prod()).on("pg_extension", '{"installed": false, "preloaded": false}')
    with pytest.raises(OperationFailed, match="shared_preload_libraries"):
        performance.slow(a_run(executor, task="db.slow"), limit=5, as_json=False)
    assert not [c for c in executor.commands if "FROM pg_stat_statements" in c.command]  # never read when missing


def test_memory_flags_the_growing_container_in_its_table(monkeypatch):
    samples = iter(range(100))

    def reply(call):
        n = next(samples)
        grows = 50 + 10 * (n // 3)  # three hosts a round: one container grows 10 MiB a sample
        text = f"leaky-1\t{grows}MiB / 1GiB\nsteady-1\t20MiB / 1GiB\n--- inspect\n/leaky-1\t0\tt\n/steady-1\t0\tt\n"
        return Answer(text)

    monkeypatch.setattr(performance.time, "sleep", lambda seconds: None)
    clock = iter(float(i) for i in range(0, 1000, 5))
    monkeypatch.setattr(performance.time, "monotonic", lambda: next(clock))
    executor = ScriptedExecutor(prod()).on("docker stats", reply=reply)
    run = a_run(executor, task="stack.memory")
    verdicts = performance.memory(run, minutes=1, interval=10, threshold=1.0, as_json=False)
    flagged = sorted({v.name for v in verdicts if v.flagged})
    assert flagged == ["leaky-1"]
    assert "warn app1: leaky-1 only grows: +" in run.out.printed and "steady-1" not in run.out.printed.split("warn")[-1]


# --- verify.logs --slow over a scripted executor: the demo's JSON lines, the shop's text lines --------------------


def _slow_run(settings: LogSettings, text: str, host: str = "app1"):
    executor = ScriptedExecutor(prod().model_copy(update={"logs": settings})).on(" logs ", text, host=host)
    return executor, a_run(executor, task="verify.logs")


def test_slow_requests_flow_reads_the_json_logs_of_every_app_host_in_the_colour():
    executor, run = _slow_run(LogSettings(), LOG, host="app2")
    found = performance.slow_requests_in_logs(run, "blue", 2.0, "10m", False)
    assert [e.pattern for e in found] == ["GET /api/v1/artifacts/<id>"]
    reads = [(c.host, c.command) for c in executor.commands if " logs " in c.command]
    assert reads == [
        (
            host,
            "cd /srv/ghostworks && docker compose -p ghostworks-blue -f docker-compose.yml -f docker-compose.prod.yml "
            "-f docker-compose.blue.yml logs --no-color --no-log-prefix --since 10m --tail 50000 api",
        )
        for host in ("app1", "app2")
    ]
    assert run.out.printed == (
        "requests of 2 s or longer, per endpoint\n"
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━┳━━━━┓\n"
        "┃ endpoint                   ┃ slow   ┃ took    ┃ status ┃ request id ┃ at ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━┩\n"
        "│ GET /api/v1/artifacts/<id> │ 2 of 2 │ 3.101 s │ 200    │ r2         │ t2 │\n"
        "│ GET /api/v1/artifacts/<id> │ 2 of 2 │ 2.500 s │ 200    │ r1         │ t1 │\n"
        "└────────────────────────────┴────────┴─────────┴────────┴────────────┴────┘\n"
    )


def test_slow_requests_flow_reads_the_shops_text_logs_by_its_pattern():
    settings, lines = _shop_lines()
    _, run = _slow_run(settings, lines)
    performance.slow_requests_in_logs(run, "blue", 1.0, None, False)
    assert run.out.printed == (
        "requests of 1 s or longer, per endpoint\n"
        "┏━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ endpoint    ┃ slow   ┃ took    ┃ status ┃ request id ┃ at                    ┃\n"
        "┡━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ GET /orders │ 1 of 2 │ 2.413 s │ 200    │ 3f2a9c1d   │ 2026-12-07            │\n"
        "│             │        │         │        │            │ 10:00:00,101          │\n"
        "└─────────────┴────────┴─────────┴────────┴────────────┴───────────────────────┘\n"
    )


def test_slow_requests_flow_says_what_the_logs_do_not_carry_and_never_invents_it():
    bare = LogSettings(
        format="text",
        pattern=r"(?P<level>\S+) (?P<message>(?P<path>/\S*) (?P<duration>[\d.]+)s)",
        duration_unit="s",
        correlation=False,
    )
    _, run = _slow_run(bare, "INFO /orders/7 1.5s")
    found = performance.slow_requests_in_logs(run, "blue", 1.0, None, True)
    assert json.loads(run.out.printed) == [
        {
            "endpoint": "/orders/<id>",
            "requests": 1,
            "slow": 1,
            "slowest": [
                {
                    "endpoint": "/orders/<id>",
                    "seconds": 1.5,
                    "request_id": None,
                    "status": None,
                    "at": None,
                    "method": None,
                }
            ],
        }
    ]
    _, run = _slow_run(bare, "INFO /orders/7 1.5s")
    assert performance.slow_requests_in_logs(run, "blue", 1.0, None, False) == found
    assert run.out.printed.splitlines()[-4:] == [
        "│ /orders/<id> │ 1 of 1 │ 1.500 s │ not          │ not          │ not          │",
        "│              │        │         │ available    │ available    │ available    │",
        "└──────────────┴────────┴─────────┴──────────────┴──────────────┴──────────────┘",
        "method: not available in the app's log lines (the endpoint is the path alone)",
    ]


def test_slow_requests_flow_says_why_it_cannot_judge_and_that_no_request_was_slow():
    levels_only = LogSettings(format="text", pattern=r"(?P<level>\S+) (?P<message>.*)", correlation=False)
    executor, run = _slow_run(levels_only, "INFO GET /orders 200 3.1ms")
    assert performance.slow_requests_in_logs(run, "blue", 1.0, None, False) == []
    assert run.out.printed == (
        "warn slow requests: logs.pattern has no named group duration or path, which a request line needs\n"
    )
    assert not [c for c in executor.commands if " logs " in c.command]  # nothing read: nothing could be judged
    _, run = _slow_run(LogSettings(), '{"level": "INFO", "msg": "starting"}')
    performance.slow_requests_in_logs(run, "blue", 1.0, None, False)
    assert run.out.printed == (
        "warn slow requests: no log line with `duration_ms` and `path` (logs.duration_key, logs.path_key)\n"
    )
    settings, lines = _shop_lines()
    _, run = _slow_run(settings, lines)
    performance.slow_requests_in_logs(run, "blue", 5.0, None, False)
    assert run.out.printed == "ok   none of 3 requests took 5 s or longer\n"


# --- stack.restart of a shared service: refused before anything runs, unless --yes on a terminal --------------------


@pytest.fixture
def executors(monkeypatch):
    """The real run's executor replaced by a ScriptedExecutor (answers as a dry run assumes, records every command)."""
    made: list[ScriptedExecutor] = []

    def scripted(env, out, log=None):
        made.append(ScriptedExecutor(env, out, unscripted="assume"))
        return made[-1]

    monkeypatch.setattr("ghosttasks.execution.ssh_executor.SSHExecutor", scripted)
    return made


INTERRUPTS = (
    "restarting the shared service redis on db1 interrupts every colour's api, web that use it (their requests fail "
    "until it is back)"
)


def test_restart_of_a_shared_service_without_yes_is_refused_before_anything_runs(inv, executors, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, err = inv("stack.restart", "redis")
    assert (code, out, err) == (2, "", f"error: refusing without --yes: {INTERRUPTS}\n")
    assert [executor.commands for executor in executors] == [[]]


def test_restart_of_a_shared_service_with_yes_off_a_terminal_is_refused_before_anything_runs(
    inv, executors, monkeypatch
):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = inv("stack.restart", "redis", "--yes")
    assert (code, out, err) == (2, "", f"error: refusing off a terminal: {INTERRUPTS}; run it from a terminal\n")
    assert [executor.commands for executor in executors] == [[]]


def test_restart_of_a_shared_service_with_yes_on_a_terminal_restarts_it_and_waits_for_health(
    inv, executors, monkeypatch
):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, out, err = inv("stack.restart", "redis", "--yes")
    assert code == 0, err
    assert f"warn {INTERRUPTS}" in out and "ok   redis restarted and healthy on db1" in out
    on_db = [c.command for c in executors[0].commands if c.host == "db1"]
    compose = "cd /srv/ghostworks && docker compose -p ghostworks -f docker-compose.yml -f docker-compose.prod.yml"
    assert on_db[0] == f"{compose} restart -t 30 redis"
    assert on_db[1].startswith("for i in $(seq 90); do s=$(docker inspect") and f"{compose} ps -q redis" in on_db[1]
    assert len(on_db) == 2
