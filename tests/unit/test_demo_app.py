"""The demo app's pure pieces (tokens, routing, faults, health, the job queue's form, the HTTP plumbing, the metric
labels) and the
origin repository lab/origin.py builds (from lab/releases.py).

No Docker, no database: the app modules tested here use the standard library only (ghostworks.metrics is imported
over a recording stand-in for prometheus_client).
"""

from __future__ import annotations

import ast
import http.client
import importlib
import itertools
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
import types
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "lab" / "app"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(APP))
try:
    from ghostworks import faults, health, jobs, routing, server, tokens
    from ghostworks.config import Settings
finally:
    sys.path.remove(str(APP))

from lab.origin import build_origin  # noqa: E402
from lab.releases import ALEMBIC_HEADS, MAIN, RELEASES  # noqa: E402

KEY = "unit-test-secret"
NOW = 1_700_000_000


# --- jobs ---------------------------------------------------------------------------------------


def test_a_job_is_the_callers_id_and_seconds_and_encodes_to_the_same_bytes():
    job = jobs.job_input({"id": "load-0001", "seconds": 0.5, "other": 1})
    assert job == {"id": "load-0001", "seconds": 0.5, "kind": "api"}
    assert jobs.encode(job) == b'{"id": "load-0001", "kind": "api", "seconds": 0.5}'
    assert jobs.decode(jobs.encode(job)) == job
    assert jobs.job_input({"id": "x"}) == {"id": "x", "seconds": 0, "kind": "api"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body must be a JSON object"),
        ({}, "id must be"),
        ({"id": "-lead"}, "id must be"),
        ({"id": "a b"}, "id must be"),
        ({"id": "x" * 129}, "id must be"),
        ({"id": "ok", "seconds": -1}, "seconds must be a number from 0 to 300"),
        ({"id": "ok", "seconds": 301}, "seconds must be"),
        ({"id": "ok", "seconds": True}, "seconds must be"),
        ({"id": "ok", "seconds": "1"}, "seconds must be"),
    ],
)
def test_a_bad_job_is_refused_with_its_reason(body, message):
    assert jobs.job_input(body).startswith(message)


def test_what_is_not_a_job_decodes_to_none_and_each_period_has_one_scheduled_id():
    assert [jobs.decode(raw) for raw in (b"{", b"[]", b'{"id": 1}', b'{"id": "a", "seconds": 1000}')] == [None] * 4
    assert jobs.scheduled(7) == {"id": "schedule-7", "seconds": 0, "kind": "scheduled"}
    assert jobs.processing("127.0.0.11") == "ghostworks:jobs:processing:127.0.0.11"
    assert routing.resolve("POST", "/api/v1/jobs") == ("enqueue_job", [], True)


# --- tokens -------------------------------------------------------------------------------------


def test_token_round_trip_carries_the_claims():
    token = tokens.issue({"sub": "7", "tid": 3, "tenant": "acme"}, KEY, "HS256", "access", 900, now=NOW)
    claims = tokens.verify(token, KEY, "HS256", "access", now=NOW + 899)
    assert (claims["sub"], claims["tid"], claims["tenant"], claims["exp"]) == ("7", 3, "acme", NOW + 900)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_other_hmac_algorithms(algorithm):
    token = tokens.issue({"tid": 1}, KEY, algorithm, "access", 60, now=NOW)
    assert tokens.verify(token, KEY, algorithm, now=NOW)["tid"] == 1
    with pytest.raises(tokens.TokenError, match="algorithm"):
        tokens.verify(token, KEY, "HS256", now=NOW)


def test_token_rejects_expired_forged_wrong_type_and_garbage():
    token = tokens.issue({"tid": 1}, KEY, "HS256", "access", 60, now=NOW)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(token, KEY, now=NOW + 60)
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(token, "another-key", now=NOW)
    header, _, signature = token.split(".")
    forged = tokens.sign({"tid": 2, "typ": "access", "exp": NOW + 60}, "attacker")
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(f"{header}.{forged.split('.')[1]}.{signature}", KEY, now=NOW)
    with pytest.raises(tokens.TokenError, match="not an access token"):
        tokens.verify(tokens.issue({"tid": 1}, KEY, "HS256", "refresh", 60, now=NOW), KEY, now=NOW)
    for garbage in ("", "a.b", "a.b.c", "x" * 40):
        with pytest.raises(tokens.TokenError):
            tokens.verify(garbage, KEY, now=NOW)


def test_token_with_alg_none_is_refused():
    unsigned = tokens._b64(b'{"alg":"none","typ":"JWT"}') + "." + tokens._b64(b'{"typ":"access","exp":9e9}') + "."
    with pytest.raises(tokens.TokenError):
        tokens.verify(unsigned, KEY, now=NOW)


def test_password_hash_checks_and_salts():
    stored = tokens.hash_password("s3cret", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert tokens.check_password("s3cret", stored)
    assert not tokens.check_password("wrong", stored)
    assert stored != tokens.hash_password("s3cret", iterations=1000)
    assert not tokens.check_password("s3cret", "md5$whatever")
    assert not tokens.check_password("s3cret", "garbage")


# --- routing and metric labels ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("/api/v1/health", "/api/v1/health"),
        ("/api/v1/health?verbose=1", "/api/v1/health"),
        ("/api/v1/artifacts/", "/api/v1/artifacts"),
        ("/api/v1/artifacts/42", "/api/v1/artifacts/{id}"),
        ("/api/v1/artifacts/6f1c2a9d-0e01-4b7e-8c2d-1f02aabbccdd", "/api/v1/artifacts/{id}"),
        ("/api/v1/artifacts/42/extra", "other"),
        ("/wp-login.php", "other"),
        ("/", "other"),
    ],
)
def test_metric_path_is_a_route_template_or_other(raw, label):
    assert routing.metric_path(raw) == label


def test_resolve_finds_handlers_ids_and_wrong_methods():
    assert routing.resolve("PUT", "/api/v1/artifacts/9") == ("update_artifact", ["9"], True)
    assert routing.resolve("POST", "/api/v1/health") == (None, [], True)
    assert routing.resolve("GET", "/nope") == (None, [], False)
    assert routing.metric_method("BREW") == "OTHER"


# --- fault switches -----------------------------------------------------------------------------


def test_good_source_ships_no_fault():
    assert faults.FAULT is None
    assert all(faults.plan(None, seq, 1e6) == (0.0, False) for seq in range(20))


def test_errors_fault_waits_then_fails_30_percent_never_twice_in_a_row():
    early = [faults.plan("errors", seq, faults.ERRORS_AFTER_SECONDS - 0.1) for seq in range(100)]
    assert not any(fail for _, fail in early)
    late = [faults.plan("errors", seq, faults.ERRORS_AFTER_SECONDS)[1] for seq in range(100)]
    assert sum(late) == 30
    assert not any(a and b for a, b in itertools.pairwise(late))


def test_the_leak_fault_keeps_memory_for_good():
    kept: list[bytes] = []
    for _ in range(3):
        faults.leak("leak", kept)
        faults.leak(None, kept)
    assert [len(block) for block in kept] == [faults.LEAK_BYTES] * 3
    assert faults.plan("leak", 0, 100.0) == (0.0, False)  # answers stay fast and right


def test_slow_and_unhealthy_faults():
    assert faults.plan("slow", 0, 0.0) == (faults.SLOW_SECONDS, False)
    assert faults.SLOW_SECONDS > 2.0
    assert faults.plan("unhealthy", 0, 100.0) == (0.0, False)  # only the health answer changes
    with pytest.raises(ValueError, match="unknown fault"):
        faults.plan("typo", 0, 0.0)


# --- health answers -----------------------------------------------------------------------------


def test_api_health_ok_error_and_starting():
    ok = {"database": "ok", "redis": "ok"}
    assert health.api_health("v1.1.0", "green", ok) == (
        200,
        {"status": "ok", "version": "v1.1.0", "color": "green", "checks": ok},
    )
    status, body = health.api_health("v1.1.0", "blue", {"database": "OperationalError: refused", "redis": "ok"})
    assert (status, body["status"], body["checks"]["database"]) == (503, "error", "OperationalError: refused")
    status, body = health.api_health("v1.2.0-unhealthy", "green", ok, fault="unhealthy")
    assert (status, body["status"]) == (503, "starting")
    assert health.web_health("v1.0.0", "blue") == (200, {"status": "ok", "version": "v1.0.0", "color": "blue"})


def test_settings_from_environment():
    cfg = Settings.from_env({"APP_VERSION": "v1.1.0", "COLOR": "blue", "API_PORT": "8001", "DEBUG": "true"})
    assert (cfg.version, cfg.color, cfg.api_port, cfg.web_port, cfg.debug) == ("v1.1.0", "blue", 8001, 3000, True)
    assert cfg.missing_for_api() == ["DATABASE_URL", "REDIS_URL", "JWT_SECRET_KEY"]
    assert Settings.from_env({}).color == "none"


# --- request ids and the access log -------------------------------------------------------------


def test_request_id_keeps_a_plain_caller_id_and_replaces_anything_else():
    assert server.request_id("6f1c2a9d-0e01-4b7e-8c2d-1f02aabbccdd") == "6f1c2a9d-0e01-4b7e-8c2d-1f02aabbccdd"
    assert server.request_id(" trace:1.2_3 ") == "trace:1.2_3"
    token = tokens.issue({"tid": 1}, KEY, "HS256", "access", 60, now=NOW)
    for hostile in (None, "", "a b", 'x"}\n{"level": "ERROR"', "é", "x" * 65, token):
        generated = server.request_id(hostile)
        assert re.fullmatch(r"[0-9a-f]{32}", generated), hostile
    assert server.request_id(None) != server.request_id(None)


def test_log_path_keeps_query_names_but_never_their_values():
    assert server.log_path("/api/v1/artifacts/7") == "/api/v1/artifacts/7"
    assert server.log_path("/x?token=abc.def&page=2&flag") == "/x?token=***&page=***&flag=***"
    assert server.log_path("/x?") == "/x?"


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def echo_server():
    """The app's HTTP plumbing on 127.0.0.1 (a free port) around an app that answers the request id it saw."""
    records = _Records()
    log = logging.getLogger("ghostworks.unit-test")
    log.addHandler(records)
    log.setLevel(logging.DEBUG)

    def app(req):
        return server.json_response(200, {"seen": req.request_id})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.make_handler(app, log))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def get(path: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=5)
        try:
            conn.request("GET", path, headers={"Connection": "close", **headers})
            response = conn.getresponse()
            return response, json.loads(response.read())
        finally:
            conn.close()

    get.port = httpd.server_address[1]
    yield get, records.records
    httpd.shutdown()
    httpd.server_close()
    log.removeHandler(records)
    thread.join(timeout=5)


def _access_lines(records: list[logging.LogRecord], count: int) -> list[logging.LogRecord]:
    """The first `count` access log lines; the server writes each just after its answer, so wait a little."""
    deadline = time.monotonic() + 5
    while True:
        lines = [r for r in records if r.getMessage() == "request"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines[:count]
        time.sleep(0.01)


def test_request_id_round_trip_through_header_app_and_access_log(echo_server):
    get, records = echo_server
    response, body = get("/api/v1/health", {"X-Request-ID": "deploy-check-42"})
    assert response.getheader("X-Request-ID") == "deploy-check-42" == body["seen"]
    response, body = get("/api/v1/health?token=sekrit", {"Authorization": "Bearer sekrit-bearer"})
    generated = response.getheader("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and body["seen"] == generated
    given, made = _access_lines(records, 2)
    assert (given.request_id, given.path, given.status) == ("deploy-check-42", "/api/v1/health", 200)
    assert (made.request_id, made.path) == (generated, "/api/v1/health?token=***")
    assert not any("sekrit" in json.dumps(vars(r), default=str) for r in records)


def test_a_hostile_request_id_is_replaced_not_echoed(echo_server):
    get, records = echo_server
    response, body = get("/", {"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", response.getheader("X-Request-ID"))
    assert _access_lines(records, 1)[0].request_id == response.getheader("X-Request-ID") == body["seen"]


def test_malformed_request_lines_are_logged_without_query_values(echo_server):
    get, records = echo_server
    with socket.create_connection(("127.0.0.1", get.port), timeout=5) as raw:
        raw.sendall(b"GET /x?token=sekrit&page=2 extra HTTP/1.1\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    notes = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    assert any("/x?token=***&page=***" in note for note in notes), notes
    assert not any("sekrit" in note for note in notes)


# --- metric labels ------------------------------------------------------------------------------


class _Metric:
    """Records label names and the samples observed per label values, like a prometheus_client metric."""

    def __init__(self, name, documentation, labelnames, **_kwargs):
        self.name, self.labelnames, self.samples = name, tuple(labelnames), {}

    def labels(self, *values):
        assert len(values) == len(self.labelnames), (self.name, values)
        metric = self

        class Child:
            def inc(self, amount=1.0):
                metric.samples[values] = metric.samples.get(values, 0.0) + amount

            def observe(self, value):
                metric.samples.setdefault(values, []).append(value)

        return Child()


@pytest.fixture
def metrics(monkeypatch):
    """ghostworks.metrics imported over a stand-in prometheus_client (the app's image has the real one)."""
    stand_in = types.ModuleType("prometheus_client")
    stand_in.Counter = stand_in.Histogram = _Metric
    stand_in.CONTENT_TYPE_LATEST, stand_in.REGISTRY, stand_in.CollectorRegistry = "text/plain", None, object
    stand_in.generate_latest, stand_in.multiprocess = (lambda registry: b""), types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "prometheus_client", stand_in)
    monkeypatch.syspath_prepend(str(APP))
    monkeypatch.delitem(sys.modules, "ghostworks.metrics", raising=False)
    module = importlib.import_module("ghostworks.metrics")
    yield module
    sys.modules.pop("ghostworks.metrics", None)


def test_request_metrics_carry_the_version_label(metrics):
    assert metrics.REQUESTS.name == "ghostworks_http_requests_total"
    assert metrics.REQUESTS.labelnames == ("method", "path", "status", "version")
    assert metrics.DURATION.name == "ghostworks_http_request_duration_seconds"
    assert metrics.DURATION.labelnames == ("method", "path", "version")
    metrics.observe("GET", "/api/v1/health", 200, 0.012, "v1.3.0")
    metrics.observe("GET", "/api/v1/health", 200, 0.020, "v1.1.0")  # the colour's previous occupant
    metrics.observe("GET", "/api/v1/health", 503, 0.5, "v1.3.0")
    assert metrics.REQUESTS.samples == {
        ("GET", "/api/v1/health", "200", "v1.3.0"): 1.0,
        ("GET", "/api/v1/health", "200", "v1.1.0"): 1.0,
        ("GET", "/api/v1/health", "503", "v1.3.0"): 1.0,
    }
    assert metrics.DURATION.samples == {
        ("GET", "/api/v1/health", "v1.3.0"): [0.012, 0.5],
        ("GET", "/api/v1/health", "v1.1.0"): [0.020],
    }


def test_the_api_labels_its_metrics_with_the_version_it_reports_in_health():
    """ghostworks.api needs SQLAlchemy to import, so read its calls: observe() and api_health() get one version."""
    calls = {}
    for node in ast.walk(ast.parse((APP / "ghostworks" / "api.py").read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            calls.setdefault(name, []).append(node)
    (observe,) = calls["observe"]
    (health_call,) = calls["api_health"]
    assert ast.unparse(observe.args[-1]) == ast.unparse(health_call.args[0]) == "self.cfg.version"


# --- alembic revisions in the source tree -------------------------------------------------------


def _revisions(texts: list[str]) -> dict[str, str | None]:
    """revision -> down_revision parsed from migration sources."""
    chain = {}
    for text in texts:
        revision = re.search(r'^revision = "([0-9a-f]{12})"$', text, re.M).group(1)
        down = re.search(r'^down_revision = (?:"([0-9a-f]{12})"|None)$', text, re.M).group(1)
        chain[revision] = down
    return chain


CHAIN = {"0001a1b2c3d4": None, "0002b2c3d4e5": "0001a1b2c3d4", "0003c3d4e5f6": "0002b2c3d4e5"}
CHAIN_V1_3_0 = {**CHAIN, "0005e5f6a7b8": "0003c3d4e5f6"}  # 0004d4e5f6a7 is the failed drill's, never shipped


def test_source_revisions_are_one_linear_chain_ending_at_the_v1_3_0_head():
    chain = _revisions([p.read_text() for p in sorted((APP / "alembic" / "versions").glob("*.py"))])
    assert chain == CHAIN_V1_3_0
    assert MAIN == "v1.3.0"
    assert (ALEMBIC_HEADS["v1.0.0"], ALEMBIC_HEADS["v1.1.0"], ALEMBIC_HEADS["v1.3.0"]) == (
        "0002b2c3d4e5",
        "0003c3d4e5f6",
        "0005e5f6a7b8",
    )


def test_shipped_migrations_only_expand_and_can_be_downgraded():
    """Blue-green: the old colour keeps running on the new schema, so an upgrade may only add (nullable or
    defaulted columns, tables, indexes), and every revision has a downgrade that undoes it."""
    for path in sorted((APP / "alembic" / "versions").glob("*.py")):
        text = path.read_text()
        upgrade, _, downgrade = text.partition("def upgrade() -> None:")[2].partition("def downgrade() -> None:")
        assert not re.search(r"op\.(drop_|alter_column|rename|execute)", upgrade), path.name
        for column in re.findall(r"op\.add_column\((.*)\)", upgrade):
            assert "nullable=True" in column or "server_default" in column, path.name
        assert re.search(r"op\.drop_", downgrade), path.name
    description = (APP / "alembic" / "versions" / "0005e5f6a7b8_artifact_descriptions.py").read_text()
    assert 'op.add_column("artifacts", sa.Column("description", sa.String(length=500), nullable=True))' in description
    assert 'op.drop_column("artifacts", "description")' in description


# --- the origin repository ----------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("origin") / "ghostworks.git"
    build_origin(dest)
    return dest


def test_origin_is_bare_with_annotated_tags_and_main(origin):
    assert _git(origin, "rev-parse", "--is-bare-repository") == "true"
    assert set(_git(origin, "tag", "--list").split()) == {r.tag for r in RELEASES}
    assert all(_git(origin, "cat-file", "-t", r.tag) == "tag" for r in RELEASES)
    assert {"v1.0.0", "v1.1.0", "v1.3.0"} <= {r.tag for r in RELEASES}
    assert _git(origin, "rev-parse", "main") == _git(origin, "rev-parse", "v1.3.0^{commit}")
    assert _git(origin, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert _git(origin, "rev-parse", "v1.1.0^") == _git(origin, "rev-parse", "v1.0.0^{commit}")
    v110 = _git(origin, "rev-parse", "v1.1.0^{commit}")
    assert _git(origin, "rev-parse", "v1.3.0^") == v110
    assert _git(origin, "rev-list", "--first-parent", "main").splitlines()[1:] == [
        v110,
        _git(origin, "rev-parse", "v1.0.0^{commit}"),
    ]
    faults_ = [r for r in RELEASES if r.fault]
    assert {r.tag for r in faults_} == {
        "v1.2.0-unhealthy",
        "v1.2.0-badmigration",
        "v1.2.0-errors",
        "v1.2.0-slow",
        "v1.2.0-leak",
        "v1.2.0-dropcolumn",
        "v1.2.0-lockingindex",
        "v1.2.0-nocolor",
    }
    for release in faults_:
        assert release.base == "v1.1.0", release.tag
        assert _git(origin, "rev-parse", f"{release.tag}^") == v110, release.tag


def test_origin_tags_ship_the_expected_revisions_and_fault_switch(origin):
    for release in RELEASES:
        files = _git(origin, "ls-tree", "-r", "--name-only", release.tag).splitlines()
        assert "docker-compose.yml" in files and ".env.example" in files and ".env" not in files
        assert not any("__pycache__" in f for f in files)
        sources = [_git(origin, "show", f"{release.tag}:{f}") for f in files if f.startswith("alembic/versions/")]
        chain = _revisions(sources)
        heads = set(chain) - set(chain.values())
        assert heads == {release.alembic_head}, release.tag
        switch = re.search(r"^FAULT = (.+)$", _git(origin, "show", f"{release.tag}:ghostworks/faults.py"), re.M)
        expected = f'"{release.fault}"' if release.fault in ("unhealthy", "errors", "slow", "leak") else "None"
        assert switch.group(1) == expected, release.tag
    models = {tag: _git(origin, "show", f"{tag}:ghostworks/models.py") for tag in ("v1.0.0", "v1.1.0", "v1.3.0")}
    assert [("tags = Column" in text, "description = Column" in text) for text in models.values()] == [
        (False, False),
        (True, False),
        (True, True),
    ]
    assert "description = Column" not in _git(origin, "show", "v1.2.0-badmigration:ghostworks/models.py")
    dropped = _git(origin, "show", "v1.2.0-dropcolumn:ghostworks/models.py")
    assert "tags = Column" not in dropped and "ARRAY" not in dropped  # the code stops reading what it drops
    modes = _git(origin, "ls-tree", "-r", "v1.1.0", "docker/bin/alembic", "docker/postgres-entrypoint.sh")
    assert all(line.startswith("100755") for line in modes.splitlines())


def test_origin_good_releases_chain_their_schema_heads(origin):
    """v1.0.0 -> v1.1.0 -> v1.3.0: each good release's revisions are the previous one's plus one more."""
    chains = {}
    for tag in ("v1.0.0", "v1.1.0", "v1.3.0"):
        files = _git(origin, "ls-tree", "-r", "--name-only", tag, "alembic/versions/").splitlines()
        chains[tag] = _revisions([_git(origin, "show", f"{tag}:{f}") for f in files])
    assert chains["v1.3.0"] == CHAIN_V1_3_0
    assert chains["v1.1.0"] == CHAIN
    assert chains["v1.0.0"] == {k: v for k, v in CHAIN.items() if k != "0003c3d4e5f6"}
    assert chains["v1.3.0"][ALEMBIC_HEADS["v1.3.0"]] == ALEMBIC_HEADS["v1.1.0"]
    assert chains["v1.1.0"][ALEMBIC_HEADS["v1.1.0"]] == ALEMBIC_HEADS["v1.0.0"]
    bad = _git(origin, "ls-tree", "-r", "--name-only", "v1.2.0-badmigration", "alembic/versions/")
    assert "0004d4e5f6a7" in bad and "0005e5f6a7b8" not in bad
    for tag, revision, operation in (
        ("v1.2.0-dropcolumn", "0006f6a7b8c9", 'op.drop_column("artifacts", "tags")'),
        ("v1.2.0-lockingindex", "0007a7b8c9d0", 'op.create_index("ix_artifacts_name", "artifacts", ["name"])'),
    ):
        files = _git(origin, "ls-tree", "-r", "--name-only", tag, "alembic/versions/").splitlines()
        chain = _revisions([_git(origin, "show", f"{tag}:{f}") for f in files])
        assert chain == {**CHAIN, revision: ALEMBIC_HEADS["v1.1.0"]}, tag
        source = _git(origin, "show", f"{tag}:{next(f for f in files if revision in f)}")
        assert operation in source.partition("def downgrade")[0], tag


def test_origin_is_reproducible_and_rebuilt_in_place(origin, tmp_path):
    before = {r.tag: _git(origin, "rev-parse", r.tag) for r in RELEASES}
    build_origin(origin)
    assert {r.tag: _git(origin, "rev-parse", r.tag) for r in RELEASES} == before
    (tmp_path / "not-a-repo").mkdir()
    (tmp_path / "not-a-repo" / "precious.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="refusing"):
        build_origin(tmp_path / "not-a-repo")
    assert (tmp_path / "not-a-repo" / "precious.txt").exists()
