"""What the hosts hold before any deploy: origin, app clones with .env and secrets, shared services, prod database."""

from __future__ import annotations

import json
import secrets as secrets_module
import subprocess
from pathlib import Path

from lab.labctl import shop
from lab.labctl.commands import docker_cli, run, system_env
from lab.labctl.errors import LabError
from lab.labctl.files import render, write_file
from lab.labctl.hosts import DEV_ADDR, FLAT, STAGING_ADDR, Topology
from lab.labctl.paths import Layout, layout

PROJECT = "ghostworks"
SHARED_SERVICES = ("postgres", "redis")
PROD_COMPOSE_FILES = ("docker-compose.yml", "docker-compose.prod.yml")
STAGING_COMPOSE_FILES = ("docker-compose.yml", "docker-compose.staging.yml")
PROVISION_VERSION = "v1.0.0"


def ensure_origin(lay: Layout) -> str:
    """The bare origin repository of the demo app, built by lab.origin.build_origin (once)."""
    if (lay.origin / "HEAD").exists():
        return f"present {lay.origin}"
    try:
        from lab.origin import build_origin
    except ImportError as exc:
        raise LabError(f"origin: lab/origin.py with build_origin(dest) is missing ({exc})") from None
    lay.origin.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_origin(lay.origin)
    except Exception as exc:  # the demo app's builder: report any failure in one line
        raise LabError(f"origin: build_origin({lay.origin}) failed: {exc}") from None
    return f"built {lay.origin}"


def _clone(lay: Layout, dest: Path) -> None:
    if (dest / ".git").exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    run("app dirs", ["git", "clone", "--quiet", str(lay.origin), str(dest)], env=system_env())


def secrets(lay: Layout | None = None) -> dict[str, str]:
    """The lab's marker secret values by variable (JWT_SECRET_KEY, POSTGRES_PASSWORD): none must ever leak."""
    lay = lay or layout()
    try:
        return json.loads(lay.secrets_file.read_text())
    except FileNotFoundError:
        raise LabError(f"secrets: no lab at {lay.root} (run `inv lab.up`)") from None


def ensure_secrets(lay: Layout) -> dict[str, str]:
    """Create the marker secrets once per lab (mode 0600)."""
    values = secrets(lay) if lay.secrets_file.exists() else {}
    fresh = {
        "JWT_SECRET_KEY": f"ghostlab-jwt-secret-{secrets_module.token_hex(12)}",
        "POSTGRES_PASSWORD": f"ghostlab-pg-secret-{secrets_module.token_hex(12)}",
        "REGISTRY_PASSWORD": f"ghostlab-registry-secret-{secrets_module.token_hex(12)}",
        "SHOP_DB_PASSWORD": f"ghostlab-shop-db-secret-{secrets_module.token_hex(12)}",
    }
    if fresh.keys() - values.keys():
        values = fresh | values
        write_file(lay.secrets_file, json.dumps(values, indent=2) + "\n", 0o600)
    return values


def env_values(lay: Layout, environment: str, bind: str, db: str) -> dict[str, str]:
    """The .env of one app dir: its bind address, the database/redis it uses and every required variable."""
    from ghosttasks.config.settings import RUNBOOK_REQUIRED_ENV

    secret = ensure_secrets(lay)
    development = environment == "development"
    values = {
        "ENVIRONMENT": environment,
        "BIND_ADDR": bind,
        "DB_BIND_ADDR": db,
        "POSTGRES_DB": "ghostworks",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": secret["POSTGRES_PASSWORD"],
        "DATABASE_URL": f"postgresql://postgres:{secret['POSTGRES_PASSWORD']}@{db}:5432/ghostworks",
        "REDIS_URL": f"redis://{db}:6379/0",
        "JWT_SECRET_KEY": secret["JWT_SECRET_KEY"],
        "JWT_ALGORITHM": "HS256",
        "JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "15",
        "JWT_REFRESH_TOKEN_EXPIRE_DAYS": "7",
        "LOG_LEVEL": "DEBUG" if development else "INFO",
        "DEBUG": "true" if development else "false",
        "OPENTELEMETRY_ENDPOINT": "http://127.0.0.1:4317",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus_multiproc_dir",
    }
    missing = [name for name in RUNBOOK_REQUIRED_ENV if name not in values]
    if missing:
        raise LabError(f"app dirs: the lab has no value for required variable(s) {', '.join(missing)}")
    return values


def app_dirs(lay: Layout, topo: Topology = FLAT) -> list[tuple[str, Path, dict[str, str]]]:
    """(title, app dir, .env values) of every clone: app1, app2, db (prod), and on the flat lab staging and dev."""
    db = topo.db_addr
    dirs = [
        (f"prod {h.name}", lay.app_dir(h.name), env_values(lay, "production", h.address, db)) for h in topo.app_hosts
    ]
    dirs.append(("prod db", lay.app_dir("db"), env_values(lay, "production", db, db)))
    if topo is FLAT:
        dirs.append(("staging", lay.app_dir("staging"), env_values(lay, "staging", STAGING_ADDR, STAGING_ADDR)))
        dirs.append(("dev", lay.app_dir("dev"), env_values(lay, "development", DEV_ADDR, DEV_ADDR)))
    return dirs


def backup_hosts(topo: Topology = FLAT) -> tuple[str, ...]:
    """The lab hosts (or environments) with a backup dir."""
    return ("db", "staging", "dev") if topo is FLAT else ("db",)


def ensure_app_dirs(lay: Layout, topo: Topology = FLAT) -> str:
    """Clone the origin into every app dir, write each .env (0600), make releases and backup dirs."""
    dirs = app_dirs(lay, topo)
    for title, app_dir, values in dirs:
        _clone(lay, app_dir)
        write_file(app_dir / ".env", render("env.j2", title=f"ghostlab {title}", values=values), 0o600)
    for host in topo.app_hosts:
        lay.releases_dir(host.name).mkdir(parents=True, exist_ok=True)
    for name in backup_hosts(topo):
        lay.backup_dir(name).mkdir(parents=True, exist_ok=True)
    return f"{len(dirs)} clones of {lay.origin.name}"


def deploy_owned(lay: Layout, topo: Topology) -> list[Path]:
    """What the tool writes as the deploy user on the hosts: clones (.env), releases, backups, the LB's state dir,
    each engine's DOCKER_CONFIG (compose keeps build state there). The LB's nginx files stay root's."""
    paths = [app_dir for _, app_dir, _ in app_dirs(lay, topo)]
    paths += [lay.releases_dir(host.name) for host in topo.app_hosts]
    paths += [lay.backup_dir(name) for name in backup_hosts(topo)]
    paths += [lay.docker_config(host.name) for host in topo.docker_hosts]
    return [*paths, lay.lb_state_dir, *shop.deploy_owned(lay, topo)]


def start_shared_services(lay: Layout, topo: Topology = FLAT) -> str:
    """docker compose up the shared PostgreSQL and Redis (project ghostworks) on the db host, and wait."""
    app_dir = lay.app_dir("db")
    missing = [name for name in PROD_COMPOSE_FILES if not (app_dir / name).exists()]
    if missing:
        raise LabError(f"shared services: {app_dir} has no {', '.join(missing)} (the demo app's compose files)")
    docker, env = docker_cli(lay, "db")
    env["APP_VERSION"] = _latest_tag(app_dir)
    files = [arg for name in PROD_COMPOSE_FILES for arg in ("-f", name)]
    argv = [docker, "compose", "-p", PROJECT, *files, "up", "-d", "--wait", "--wait-timeout", "120", *SHARED_SERVICES]
    run("shared services", argv, env=env, cwd=app_dir, timeout=300)
    return f"{' '.join(SHARED_SERVICES)} up on db {topo.db_addr} (project {PROJECT})"


def provision_prod_database(lay: Layout) -> str:
    """Give prod an existing database, as production has before its first deploy with ghosttasks:
    the v1.0.0 schema and the demo tenants (the smoke tests' users). Only when it has no schema yet."""
    source = lay.host_dir("db") / "provision" / PROVISION_VERSION
    return _provision_database(lay, lay.app_dir("db"), source, PROJECT, PROD_COMPOSE_FILES)


def provision_staging_database(lay: Layout) -> str:
    """Staging's PostgreSQL and Redis up (project ghostworks-staging on 127.0.0.17), with the v1.0.0 schema and
    the demo tenants, so that deploy.staging runs the smoke tests with the inventory's smoke users."""
    app_dir = lay.app_dir("staging")
    docker, env = docker_cli(lay, "db")
    env["APP_VERSION"] = PROVISION_VERSION
    files = [arg for name in STAGING_COMPOSE_FILES for arg in ("-f", name)]
    project = f"{PROJECT}-staging"
    argv = [docker, "compose", "-p", project, *files, "up", "-d", "--wait", "--wait-timeout", "120", *SHARED_SERVICES]
    run("staging database", argv, env=env, cwd=app_dir, timeout=300)
    source = lay.host_dir("db") / "provision" / f"staging-{PROVISION_VERSION}"
    return _provision_database(lay, app_dir, source, project, STAGING_COMPOSE_FILES)


def _provision_database(lay: Layout, app_dir: Path, source: Path, project: str, compose_files: tuple[str, ...]) -> str:
    """The PROVISION_VERSION schema and the demo tenants in the database of `project` (on the db engine),
    run from `source`, a worktree of that version of `app_dir`; nothing when the database has a schema already."""
    docker, env = docker_cli(lay, "db")
    probe = [
        docker,
        "exec",
        f"{project}-postgres-1",
        "psql",
        "-U",
        "postgres",
        "-d",
        "ghostworks",
        "-tAc",
        "SELECT to_regclass('alembic_version') IS NOT NULL",
    ]
    if run(f"{project} database", probe, env=env).stdout.strip() == "t":
        return "already provisioned"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        run(
            f"{project} database",
            [
                "git",
                "-c",
                "safe.directory=*",
                "-C",
                str(app_dir),
                "worktree",
                "add",
                "--detach",
                str(source),
                f"refs/tags/{PROVISION_VERSION}",
            ],
        )
        (source / ".env").symlink_to(app_dir / ".env")
    env["APP_VERSION"] = PROVISION_VERSION
    files = [arg for name in compose_files for arg in ("-f", name)]
    script = "python3 -m alembic upgrade head && python3 scripts/seed_demo_data.py"
    argv = [
        docker,
        "compose",
        "-p",
        f"{project}-provision",
        *files,
        "run",
        "--rm",
        "--no-deps",
        "--build",
        "-T",
        "api",
        "sh",
        "-c",
        script,
    ]
    run(f"{project} database", argv, env=env, cwd=source, timeout=300)
    return f"schema of {PROVISION_VERSION} and the demo tenants (acme, globex)"


def _latest_tag(app_dir: Path) -> str:
    # -c safe.directory: on the bastion topology the clone is the deploy user's, and this runs as root.
    argv = ["git", "-c", "safe.directory=*", "-C", str(app_dir), "describe", "--tags", "--abbrev=0"]
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.stdout.strip() or "v0.0.0"
