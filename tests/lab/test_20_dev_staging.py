"""The development and staging runbooks against the lab: healthy services and a migrated database."""

from __future__ import annotations

import httpx

from lab.releases import ALEMBIC_HEADS, MAIN
from tests.lab.world import docker, psql


def test_deploy_dev_reaches_healthy_services_and_a_migrated_seeded_database(lab, inv):
    inv.ok("deploy.dev")
    api = httpx.get("http://127.0.0.16:8000/api/v1/health", timeout=5).json()
    web = httpx.get("http://127.0.0.16:3000/api/health", timeout=5).json()
    assert api["status"] == "ok" and web["status"] == "ok"
    assert (
        psql(lab, "SELECT version_num FROM alembic_version", "ghostworks-dev-postgres-1", "app1")
        == (ALEMBIC_HEADS[MAIN])
    )
    assert int(psql(lab, "SELECT count(*) FROM tenants", "ghostworks-dev-postgres-1", "app1")) >= 2
    assert (lab.host_dir("dev") / "ghostworks" / ".env").stat().st_mode & 0o077 == 0
    inv.ok("deploy.dev")  # idempotent: a second run keeps .env and the data


def test_deploy_staging_pulls_builds_migrates_and_passes_smoke(lab, inv):
    result = inv.ok("deploy.staging", "--ref", "v1.1.0")
    assert "smoke: artifact create" in result.stdout and "no smoke users" not in result.stdout
    assert "v1.1.0 built once on staging1" in result.stdout
    running = docker(lab, "db", "inspect", "--format", "{{.Image}}", "ghostworks-staging-api-1").stdout.strip()
    digests = docker(lab, "db", "image", "inspect", "--format", "{{json .RepoDigests}}", running).stdout
    assert "127.0.0.20:5000/ghostlab-staging/ghostworks-api@sha256:" in digests  # pulled from the registry
    api = httpx.get("http://127.0.0.17:8000/api/v1/health", timeout=5).json()
    assert (api["status"], api["version"]) == ("ok", "v1.1.0")
    assert (
        psql(lab, "SELECT version_num FROM alembic_version", "ghostworks-staging-postgres-1", "db")
        == (ALEMBIC_HEADS["v1.1.0"])
    )
    inv.all_ok(("verify.health", "--env", "staging"), ("stack.pg-isready", "--env", "staging"))  # both only read
