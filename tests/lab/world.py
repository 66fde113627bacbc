"""Helpers to look at the lab world directly (not through ghosttasks): LB answers, containers, SQL, sshd logs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import yaml

from lab.releases import ALEMBIC_HEADS
from tests.lab.walk_model import GOOD_CHAIN, GOOD_VERSIONS, ancestry, other, satisfies

LB_HEALTH = "http://127.0.0.10/api/v1/health"
BASTION_LB_HEALTH = "http://127.0.0.41/api/v1/health"  # the bastion topology's LB, from the operator's side
CHANNEL = re.compile(r"server_request_direct_tcpip\(\).*: originator \S+ port \d+, target (\S+) port (\d+)")


def lb_answers(count: int = 20, url: str = LB_HEALTH) -> list[tuple[str | None, str | None]]:
    """Ask the LB `count` times on new connections which colour and version answer."""
    answers = []
    with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            body = client.get(url).json()
            answers.append((body.get("color"), body.get("version")))
    return answers


#: The response header the selector adds naming the colour that served (lb.color_header's default).
COLOR_HEADER = "X-Served-Color"


def served(count: int = 20, url: str = LB_HEALTH) -> list[tuple[str | None, str | None, str | None]]:
    """Ask the LB `count` times on new connections: (its colour header, the body's `color`, the body's version)."""
    answers = []
    with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(count):
            response = client.get(url)
            body = response.json()
            answers.append((response.headers.get(COLOR_HEADER), body.get("color"), body.get("version")))
    return answers


def nginx_dump(lab) -> str:
    """The LB's live configuration as nginx itself reads it (`nginx -T`)."""
    argv = ["nginx", "-T", "-c", str(lab.nginx_conf)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def direct_health(address: str, port: int) -> dict:
    return httpx.get(f"http://{address}:{port}/api/v1/health", timeout=5).json()


@dataclass
class LoadLoop:
    """A bounded load generator through the LB on new connections (stops by itself after max_seconds)."""

    url: str = LB_HEALTH
    max_seconds: float = 300
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    answers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.requests += 1
                try:
                    response = client.get(self.url)
                    if response.status_code != 200:
                        self.failures.append(f"HTTP {response.status_code}")
                    else:
                        key = (response.json().get("color"), response.json().get("version"))
                        self.answers[key] = self.answers.get(key, 0) + 1
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)

    def __enter__(self) -> LoadLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def docker(lab, host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The docker CLI against one lab host's own engine."""
    env = {**os.environ, **lab.docker_env(host)}
    result = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def psql(lab, sql: str, container: str = "ghostworks-postgres-1", host: str = "db") -> str:
    """Run SQL in a lab PostgreSQL container; returns the unaligned output."""
    return docker(
        lab, host, "exec", container, "psql", "-U", "postgres", "-d", "ghostworks", "-tAc", sql
    ).stdout.strip()


class HeldLock:
    """A psql session on the lab database holding `LOCK TABLE table IN mode` in an open transaction: taken
    (and seen granted in pg_locks) on enter, ended with pg_terminate_backend on exit."""

    NAME = "ghostlab-lock-holder"  # its application_name, so the lock and the session are found by it

    def __init__(self, lab, table: str, mode: str, seconds: int = 300) -> None:
        self.lab, self.table = lab, table
        self.sql = f"BEGIN; LOCK TABLE {table} IN {mode} MODE; SELECT pg_sleep({seconds});"
        self._process: subprocess.Popen | None = None

    def held(self) -> bool:
        """The holder's lock on the table is granted right now (read from pg_locks)."""
        granted = (
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            f"WHERE a.application_name = '{self.NAME}' AND l.relation = '{self.table}'::regclass AND l.granted"
        )
        return psql(self.lab, granted) == "1"

    def __enter__(self) -> HeldLock:
        argv = ["docker", "exec", "-e", f"PGAPPNAME={self.NAME}", "ghostworks-postgres-1"]
        argv += ["psql", "-U", "postgres", "-d", "ghostworks", "-c", self.sql]
        env = {**os.environ, **self.lab.docker_env("db")}
        self._process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.held():
            assert time.monotonic() < deadline, "the lock holder never got its lock"
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        psql(self.lab, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{self.NAME}'")
        if self._process is not None:
            self._process.wait(timeout=30)


def sshd_connections(lab) -> int:
    """How many SSH connections all lab sshds have accepted so far (LogLevel VERBOSE)."""
    total = 0
    for name in ("lb", "app1", "app2", "db"):
        log = lab.sshd_log(name)
        if log.exists():
            total += log.read_text(errors="replace").count("Connection from")
    return total


def forwarded_channels(lab, host: str = "bastion") -> Counter:
    """The direct-tcpip channels a bastion-topology sshd opened so far, by (target address, port), from its log."""
    log = lab.sshd_log(host)
    text = log.read_text(errors="replace") if log.exists() else ""
    return Counter((match[1], int(match[2])) for match in CHANNEL.finditer(text))


@dataclass(frozen=True)
class Start:
    """A starting state of the lab: `serving` live on `color` (either colour when None), the other colour holding
    `idle` (whatever it holds when None: a module that never uses it need not pay a deploy for it), the schema at
    `serving`'s head, no lock, state.json agreeing with the LB."""

    serving: str
    idle: str | None
    color: str | None = "green"


#: the usual start (test_10's end before its rollback): green serves v1.1.0, blue holds v1.0.0.
GREEN_V110 = Start("v1.1.0", "v1.0.0")
NO_MONITOR = ("--monitor-minutes", "0", "--yes")
#: The quickest monitoring the lab allows, for drills that wait for a trigger: its Prometheus scrapes every 2 s
#: (lab/labctl/configs.py), so a rate window of three scrapes (a rate needs two samples), read every second.
FAST_MONITORING = {"rate_window": "6s", "interval_seconds": 1}


def start_commands(
    active: str | None, holds: dict, serving: str, idle: str | None, color: str
) -> list[tuple[str, ...]]:
    """The `inv` commands that put `serving` live on `color` and `idle` on the other colour, given which colour
    is active and the good version each holds: a switch where a colour already holds its version, else a
    deploy into the idle colour (which then serves), until both hold theirs; at most three. With `idle` None the
    other colour stays as it is when `color` holds `serving` (nothing, or a switch); else it keeps the good
    version it holds (`serving` when it holds none) while `serving` goes onto `color`."""
    if idle is None:
        if holds[color] == serving:
            return [] if active == color else [("traffic.switch", color, "--yes")]
        idle = holds[other(color)] or serving
    goal, holds, commands = {color: serving, other(color): idle}, dict(holds), []
    while holds != goal:
        into = other(active) if active else "blue"  # a deploy goes into the idle colour, blue on the first
        if holds[into] == goal[into]:
            commands.append(("traffic.switch", into, "--yes"))
        else:
            commands.append(("deploy.prod", "--version", goal[into], *NO_MONITOR))
            holds[into] = goal[into]
        active = into
    if active != color:
        commands.append(("traffic.switch", color, "--yes"))
    return commands


def bring_to(lab, inv, start: Start) -> str:
    """Bring the lab from any state (fresh, either colour live, a colour failed, locked or frozen, state.json
    disagreeing with the LB) to `start` with the fewest commands, the LB config the one lab/hosts.yml renders;
    returns the colour that serves. Either topology: the last look asks the LB at the public URL of the one that is
    up."""
    from lab import labctl

    status = inv.json("deploy.status")
    if status["lock"]:
        inv.ok("deploy.unlock", "--force")
    if status["disagreements"]:
        inv.ok("deploy.recover")
        status = inv.json("deploy.status")
    holds = {color: None if info["failed_version"] else info["version"] for color, info in status["colors"].items()}
    plans = [
        (start_commands(status["active"], holds, start.serving, start.idle, color), color)
        for color in ([start.color] if start.color else ["blue", "green"])
    ]
    commands, color = min(plans, key=lambda plan: len(plan[0]))
    if not commands and not status.get("lb", {}).get("config_current", True):
        # the LB config is another inventory's (an earlier module's variant): installed now, not under a test's load
        commands = [("traffic.switch", color, "--yes")]
    for argv in commands:
        inv.ok(*argv)
    head, revision = ALEMBIC_HEADS[start.serving], psql(lab, "SELECT version_num FROM alembic_version")
    if revision != head:  # a newer release's (or a drill's) migration is applied, or a forced downgrade was left
        inv.ok("db.upgrade" if revision in ancestry(head) else "db.downgrade", "-r", head, "--yes")
    assert set(lb_answers(10, url=f"{labctl.current_topology().public_url}/api/v1/health")) == {(color, start.serving)}
    return color


def forget_prod_deploys(lab) -> str:
    """Take prod back to what lab.up leaves before the first deploy, keeping the engines' images and the registry:
    no colour containers on the app hosts (workers included), no release worktrees, nothing in the LB's state dir
    (state.json, history, lock, flag) or the backups, the database emptied and provisioned again (lab.up's v1.0.0
    schema and demo tenants). Seconds, where lab.down + lab.up takes half a minute and leaves new engines and an
    empty registry, so that the next deploy pushes and pulls the base image again."""
    from lab.labctl.hosts import FLAT
    from lab.labctl.provisioning import PROJECT, provision_prod_database

    for host in FLAT.app_hosts:
        for color in ("blue", "green"):
            listed = docker(
                lab, host.name, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}-{color}"
            )
            if listed.stdout.split():
                docker(lab, host.name, "rm", "-f", *listed.stdout.split())
        _empty(lab.releases_dir(host.name))
        prune = ["git", "-c", "safe.directory=*", "-C", str(lab.app_dir(host.name)), "worktree", "prune"]
        subprocess.run(prune, check=True, capture_output=True, timeout=60)
    _empty(lab.lb_state_dir)
    _empty(lab.backup_dir("db"))
    # dropping the schema drops pg_stat_statements with it (the container's entrypoint created it there: db.slow)
    psql(lab, "DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return provision_prod_database(lab)


def _empty(directory) -> None:
    """Remove what is inside `directory` (the directory itself, its owner and mode stay)."""
    for entry in directory.iterdir() if directory.exists() else ():
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


#: any colour serving v1.1.0, v1.0.0 in the other: what a module that needs "a good release serving" falls back to.
EITHER_V110 = Start("v1.1.0", "v1.0.0", color=None)


def bring_to_serving(
    lab, inv, versions: tuple[str, ...] = GOOD_VERSIONS, fallback: Start = EITHER_V110
) -> tuple[str, str]:
    """For a module that needs only one of `versions` serving, whatever the other colour holds: the lab as it is
    when it already serves one (no command: unlocked, state.json agreeing with the LB, the schema a good revision
    at or past that version's head, every answer from it), else brought to `fallback`. Returns (colour, version)."""
    status = inv.json("deploy.status")
    active = status["active"]
    info = status["colors"][active] if active else None
    if not status["lock"] and not status["disagreements"] and info and info["version"] in versions:
        version, revision = info["version"], psql(lab, "SELECT version_num FROM alembic_version")
        schema_ok = revision in GOOD_CHAIN and satisfies(revision, ALEMBIC_HEADS[version])
        if not info["failed_version"] and schema_ok and set(lb_answers(10)) == {(active, version)}:
            return active, version
    return bring_to(lab, inv, fallback), fallback.serving


def with_prod_settings(inv, folder: Path, **sections: dict):
    """`inv` against a copy of its inventory, written in `folder`, whose prod environment has `sections` (section
    name -> settings) set over its own; its run logs go to folder/runs."""
    data = yaml.safe_load(inv.inventory.read_text())
    prod = data["environments"]["prod"]
    for name, settings in sections.items():
        prod[name] = {**prod.get(name, {}), **settings}
    path = folder / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return replace(inv, log_dir=folder / "runs", inventory=path)


def forget_in_registry(lab, version: str, names: tuple[str, ...] = ("ghostworks-api", "ghostworks-web")) -> None:
    """Delete `version`'s manifests from the lab registry's prod repositories (the registry API, delete enabled in
    lab/templates/registry.yml.j2), so that the next build-once deploy of it builds and pushes again instead of
    taking the registry's images (a module that examines the build needs a version the registry lacks)."""
    from lab.labctl.hosts import REGISTRY_ADDR, REGISTRY_PORT, REGISTRY_USER

    password = lab.registry_password_file.read_text().strip()
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    with httpx.Client(
        base_url=f"http://{REGISTRY_ADDR}:{REGISTRY_PORT}/v2/ghostlab", auth=(REGISTRY_USER, password), timeout=10
    ) as client:
        for name in names:
            found = client.head(f"/{name}/manifests/{version}", headers={"Accept": accept})
            if found.status_code == 404:
                continue
            found.raise_for_status()
            client.delete(f"/{name}/manifests/{found.headers['Docker-Content-Digest']}").raise_for_status()
            assert client.head(f"/{name}/manifests/{version}", headers={"Accept": accept}).status_code == 404
