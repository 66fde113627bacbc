"""The lab's second app (lab/app2, "the shop", environment `shop`): its origin, clones with .env, releases and
backup dirs, and its shared services (PostgreSQL `db` and Redis `cache`, project shop) on the db host.

It shares the demo's hosts, engines and LB (a second nginx server, lab/templates/nginx.conf.j2) and starts with an
empty database: its first deploy migrates from nothing, through a merge point, to its release's head.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lab.labctl.commands import docker_cli, run, system_env
from lab.labctl.errors import LabError
from lab.labctl.files import render, write_file
from lab.labctl.hosts import FLAT, SHOP_CACHE_PORT, SHOP_DB_PORT, Topology
from lab.labctl.paths import Layout

PROJECT = "shop"
SHARED_SERVICES = ("db", "cache")
COMPOSE_FILES = ("compose.yml", "compose.prod.yml")
DATABASE = "shop"
DB_USER = "shop"


def ensure_origin(lay: Layout) -> str:
    """The bare origin of lab/app2 with the tags of lab/shop_releases.py (built once per lab root)."""
    if (lay.shop_origin / "HEAD").exists():
        return f"present {lay.shop_origin}"
    from lab.origin import build_shop_origin

    lay.shop_origin.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_shop_origin(lay.shop_origin)
    except Exception as exc:  # the builder's failure in one line
        raise LabError(f"shop origin: build_shop_origin({lay.shop_origin}) failed: {exc}") from None
    return f"built {lay.shop_origin}"


def env_values(lay: Layout, bind: str, db: str) -> dict[str, str]:
    """The shop's .env on one host: where it listens, its database and cache."""
    from lab.labctl.provisioning import ensure_secrets

    password = ensure_secrets(lay)["SHOP_DB_PASSWORD"]
    return {
        "LISTEN_HOST": bind,
        "DB_HOST": db,
        "DB_PORT": str(SHOP_DB_PORT),
        "CACHE_PORT": str(SHOP_CACHE_PORT),
        "DB_USER": DB_USER,
        "DB_NAME": DATABASE,
        "DB_PASSWORD": password,
        "DATABASE_URL": f"postgresql://{DB_USER}:{password}@{db}:{SHOP_DB_PORT}/{DATABASE}",
        "LOG_LEVEL": "INFO",
    }


def shop_dirs(lay: Layout, topo: Topology = FLAT) -> list[tuple[str, Path, dict[str, str]]]:
    """(title, clone, .env values) of every shop clone: each app host and the db host."""
    db = topo.db_addr
    dirs = [(f"shop {h.name}", lay.shop_dir(h.name), env_values(lay, h.address, db)) for h in topo.app_hosts]
    return [*dirs, ("shop db", lay.shop_dir("db"), env_values(lay, db, db))]


def ensure_dirs(lay: Layout, topo: Topology = FLAT) -> str:
    """Clone the shop's origin on every host, write each .env (0600), make its releases and backup dirs."""
    dirs = shop_dirs(lay, topo)
    for title, shop_dir, values in dirs:
        if not (shop_dir / ".git").exists():
            shop_dir.parent.mkdir(parents=True, exist_ok=True)
            run("shop dirs", ["git", "clone", "--quiet", str(lay.shop_origin), str(shop_dir)], env=system_env())
        write_file(shop_dir / ".env", render("env.j2", title=f"ghostlab {title}", values=values), 0o600)
    for host in topo.app_hosts:
        lay.shop_releases_dir(host.name).mkdir(parents=True, exist_ok=True)
    lay.shop_backup_dir.mkdir(parents=True, exist_ok=True)
    return f"{len(dirs)} clones of {lay.shop_origin.name}"


def deploy_owned(lay: Layout, topo: Topology) -> list[Path]:
    """What the deploy user writes for the shop (bastion topology): clones, releases, backups, its LB state."""
    paths = [shop_dir for _, shop_dir, _ in shop_dirs(lay, topo)]
    paths += [lay.shop_releases_dir(host.name) for host in topo.app_hosts]
    return [*paths, lay.shop_backup_dir, lay.shop_state_dir]


def start_services(lay: Layout, topo: Topology = FLAT) -> subprocess.Popen:
    """Start `docker compose up -d --wait db cache` (project shop) on the db host in the background; wait() it."""
    shop_dir = lay.shop_dir("db")
    docker, env = docker_cli(lay, "db")
    files = [arg for name in COMPOSE_FILES for arg in ("-f", name)]
    argv = [docker, "compose", "-p", PROJECT, *files, "up", "-d", "--wait", "--wait-timeout", "120", *SHARED_SERVICES]
    return subprocess.Popen(argv, cwd=shop_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_services(proc: subprocess.Popen, topo: Topology = FLAT) -> str:
    """Wait for start_services; LabError with its output's last line when it failed."""
    output, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        lines = output.strip().splitlines() or ["(no output)"]
        raise LabError(f"shop services: docker compose up exited {proc.returncode}: {lines[-1][:300]}")
    ports = f"ports {SHOP_DB_PORT}, {SHOP_CACHE_PORT}"
    return f"{' '.join(SHARED_SERVICES)} up on db {topo.db_addr} (project {PROJECT}, {ports})"


def reset(lay: Layout, topo: Topology = FLAT) -> str:
    """Take the shop back to before its first deploy, leaving the rest of the lab as it is: no colour containers,
    release worktrees, LB state (flag, state.json, history, lock), backups or schema (its database emptied)."""
    for host in topo.app_hosts:
        docker, env = docker_cli(lay, host.name)
        for color in ("blue", "green"):
            listed = run(
                "shop reset",
                [docker, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}-{color}"],
                env=env,
            )
            if listed.stdout.split():
                run("shop reset", [docker, "rm", "-f", *listed.stdout.split()], env=env)
        _empty(lay.shop_releases_dir(host.name))
        run("shop reset", ["git", "-c", "safe.directory=*", "-C", str(lay.shop_dir(host.name)), "worktree", "prune"])
    _empty(lay.shop_state_dir)
    _empty(lay.shop_backup_dir)
    docker, env = docker_cli(lay, "db")
    sql = "DROP SCHEMA public CASCADE; CREATE SCHEMA public"
    run(
        "shop reset",
        [docker, "exec", f"{PROJECT}-db-1", "psql", "-q", "-U", DB_USER, "-d", DATABASE, "-c", sql],
        env=env,
    )
    return "no shop deploy, empty database"


def _empty(directory: Path) -> None:
    """Remove what is inside `directory` (the directory itself, its owner and mode stay)."""
    for entry in directory.iterdir() if directory.exists() else ():
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
