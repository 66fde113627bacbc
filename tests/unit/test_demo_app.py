"""The demo app's pure pieces (tokens, routing, faults, health) and the origin repository lab/origin.py builds.

No Docker, no database: the app modules tested here use the standard library only.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "lab" / "app"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(APP))
try:
    from ghostworks import faults, health, routing, tokens
    from ghostworks.config import Settings
finally:
    sys.path.remove(str(APP))

from lab.origin import ALEMBIC_HEADS, RELEASES, build_origin  # noqa: E402

KEY = "unit-test-secret"
NOW = 1_700_000_000


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


# --- alembic revisions in the source tree -------------------------------------------------------


def _revisions(texts: list[str]) -> dict[str, str | None]:
    """revision -> down_revision parsed from migration sources."""
    chain = {}
    for text in texts:
        revision = re.search(r'^revision = "([0-9a-f]{12})"$', text, re.M).group(1)
        down = re.search(r'^down_revision = (?:"([0-9a-f]{12})"|None)$', text, re.M).group(1)
        chain[revision] = down
    return chain


def test_source_revisions_are_one_linear_chain_ending_at_the_v1_1_0_head():
    chain = _revisions([p.read_text() for p in sorted((APP / "alembic" / "versions").glob("*.py"))])
    assert chain == {"0001a1b2c3d4": None, "0002b2c3d4e5": "0001a1b2c3d4", "0003c3d4e5f6": "0002b2c3d4e5"}
    assert ALEMBIC_HEADS["v1.1.0"] == "0003c3d4e5f6"


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
    assert _git(origin, "rev-parse", "main") == _git(origin, "rev-parse", "v1.1.0^{commit}")
    assert _git(origin, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert _git(origin, "rev-parse", "v1.1.0^") == _git(origin, "rev-parse", "v1.0.0^{commit}")
    v110 = _git(origin, "rev-parse", "v1.1.0^{commit}")
    for release in RELEASES[2:]:
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
        expected = f'"{release.fault}"' if release.fault in ("unhealthy", "errors", "slow") else "None"
        assert switch.group(1) == expected, release.tag
    assert "tags = Column" not in _git(origin, "show", "v1.0.0:ghostworks/models.py")
    assert "tags = Column" in _git(origin, "show", "v1.1.0:ghostworks/models.py")
    modes = _git(origin, "ls-tree", "-r", "v1.1.0", "docker/bin/alembic", "docker/postgres-entrypoint.sh")
    assert all(line.startswith("100755") for line in modes.splitlines())


def test_origin_is_reproducible_and_rebuilt_in_place(origin, tmp_path):
    before = {r.tag: _git(origin, "rev-parse", r.tag) for r in RELEASES}
    build_origin(origin)
    assert {r.tag: _git(origin, "rev-parse", r.tag) for r in RELEASES} == before
    (tmp_path / "not-a-repo").mkdir()
    (tmp_path / "not-a-repo" / "precious.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="refusing"):
        build_origin(tmp_path / "not-a-repo")
    assert (tmp_path / "not-a-repo" / "precious.txt").exists()
