"""A managed PostgreSQL (issue 23): the shop deployed against a server no SSH host runs.

The world: the flat lab's shop (lab/app2) with its database on lab/labctl/managed_postgres.py's own cluster
(127.0.0.26:5432, scram passwords over TLS only), no db host in its inventory, the database client in one-off
containers of ghostlab-base (PostgreSQL 15 like the server) on app2 (`database.client_host`), the password in
the operator's environment. The app reaches the server through its own DATABASE_URL (.env, the app's business).

Reality is read directly: psql over the managed server's socket, the backup files with this machine's pg_restore,
`ps -eo args` sampled during every command, and every file the tool writes. The module resets the shop's part of
the lab before and after (lab.labctl.shop.reset, the .env files rewritten as labctl has them), and empties the managed
server's database and backup dir before it starts (runnable again on a lab kept up, GHOSTLAB_KEEP=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from lab.labctl import managed_postgres
from lab.labctl import shop as lab_shop
from lab.labctl.files import render, write_file
from lab.labctl.hosts import FLAT, MANAGED_PG_ADDR, MANAGED_PG_PORT
from lab.labctl.supervisor import running_pid
from lab.shop_releases import ALEMBIC_HEADS
from tests.lab.conftest import Inv
from tests.lab.shop_world import NO_MONITOR

PASSWORD_VARIABLE = "GHOSTLAB_MANAGED_PG_PASSWORD"
CLIENT_HOST = "app2"
TIMINGS: dict[str, float] = {}


class ArgvSampler:
    """`ps -eo pid,ppid,args` of this machine (every flat-lab host) every 50 ms in a thread: the lines that show
    the secret, how many showed a one-off database client at work (the sampling saw the moments that matter), and
    on which lab hosts those ran (the lab sshd each descends from)."""

    CLIENT = "docker run --rm -i --network host"

    def __init__(self, secret: str, sshds: dict[int, str]) -> None:
        self.secret, self.sshds, self.samples, self.leaks, self.clients = secret, sshds, 0, [], 0
        self.client_hosts: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            lines = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()
            self.samples += 1
            rows = [[*line.split(None, 2), ""][:3] for line in lines[1:]]
            parents = {int(pid): int(ppid) for pid, ppid, _ in rows}
            self.leaks += [args for _, _, args in rows if self.secret in args]
            for pid, _, args in rows:
                if self.CLIENT in args:
                    self.clients += 1
                    self.client_hosts.add(self._host(int(pid), parents))
            time.sleep(0.05)

    def _host(self, pid: int, parents: dict[int, int]) -> str:
        """The lab host whose sshd this process descends from."""
        while pid > 1:
            if pid in self.sshds:
                return self.sshds[pid]
            pid = parents.get(pid, 1)
        return "not under a lab sshd"

    def __enter__(self) -> ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class World:
    """`inv TASK --env shop ARGS` against the managed world's inventory, the password in its environment only;
    every output kept (to look for the secret), every command timed."""

    def __init__(self, lab, inv: Inv, secret: str) -> None:
        self.lab, self.inv, self.secret = lab, inv, secret
        self.outputs: list[str] = []

    def __call__(self, task: str, *args: str) -> subprocess.CompletedProcess:
        started = time.monotonic()
        result = self.inv(task, "--env", "shop", *args, env={PASSWORD_VARIABLE: self.secret})
        TIMINGS[f"{task} {' '.join(args[:2])}".strip()] = time.monotonic() - started
        self.outputs.append(result.stdout + result.stderr)
        return result

    def ok(self, task: str, *args: str) -> subprocess.CompletedProcess:
        result = self(task, *args)
        assert result.returncode == 0, f"inv {task} failed:\n{result.stdout}\n{result.stderr}"
        return result


def backup_dir(lab) -> Path:
    return managed_postgres.home(lab) / "backups"


def managed_inventory(lab, path: Path) -> Path:
    """lab/hosts.yml's shop environment with its database managed: no db host, no shared services."""
    raw = yaml.safe_load(Path(FLAT_INVENTORY).read_text())
    shop = raw["environments"]["shop"]
    shop["hosts"] = [host for host in shop["hosts"] if "db" not in host["roles"]]
    shop["app"]["shared_services"] = []
    shop["database"] = {
        "host": MANAGED_PG_ADDR,
        "port": MANAGED_PG_PORT,
        "name": managed_postgres.DATABASE,
        "user": managed_postgres.ROLE,
        "sslmode": "require",
        "password_env": PASSWORD_VARIABLE,
        "client_image": "ghostlab-base:latest",
        "client_host": CLIENT_HOST,
        "backup_dir": str(backup_dir(lab)),
        "keep_backups": 5,
        "lock_wait_seconds": 3,
    }
    path.write_text(yaml.safe_dump({"default_env": "shop", "environments": {"shop": shop}}, sort_keys=False))
    return path


def point_the_app_at_the_managed_server(lab, secret: str) -> None:
    """The shop's .env on every app host (and so every release, which links it) names the managed server."""
    url = f"postgresql://{managed_postgres.ROLE}:{secret}@{MANAGED_PG_ADDR}:{MANAGED_PG_PORT}/shop?sslmode=require"
    for host in FLAT.app_hosts:
        values = lab_shop.env_values(lab, host.address, MANAGED_PG_ADDR)
        values |= {"DB_PORT": str(MANAGED_PG_PORT), "DB_PASSWORD": secret, "DATABASE_URL": url}
        text = render("env.j2", title=f"ghostlab shop {host.name} (managed PostgreSQL)", values=values)
        write_file(lab.shop_dir(host.name) / ".env", text, 0o600)


FLAT_INVENTORY = Path(__file__).resolve().parents[2] / "lab" / "hosts.yml"


@pytest.fixture(scope="module")
def world(lab, tmp_path_factory):
    started = time.monotonic()
    TIMINGS["managed server up"] = 0.0
    where = managed_postgres.ensure(lab)
    TIMINGS["managed server up"] = time.monotonic() - started
    print(f"managed PostgreSQL at {where}")
    managed_postgres.reset(lab)
    shutil.rmtree(backup_dir(lab), ignore_errors=True)  # a kept lab's earlier run of this module left its backups
    lab_shop.reset(lab, FLAT)
    secret = managed_postgres.password(lab)
    point_the_app_at_the_managed_server(lab, secret)
    runs = tmp_path_factory.mktemp("managed-runs")
    inventory = managed_inventory(lab, tmp_path_factory.mktemp("managed-world") / "hosts.yml")
    the_world = World(lab, Inv(runs, inventory), secret)
    the_world.log_dir, the_world.since = runs, time.time()
    sshds = {running_pid(lab, f"sshd-{host.name}"): host.name for host in FLAT.hosts}
    with ArgvSampler(secret, {pid: name for pid, name in sshds.items() if pid}) as sampler:
        the_world.sampler = sampler
        try:
            yield the_world
        finally:
            lab_shop.ensure_dirs(lab, FLAT)  # the .env files as labctl writes them
            lab_shop.reset(lab, FLAT)
            TIMINGS["module"] = time.monotonic() - started
            print("\nmanaged PostgreSQL timings:\n" + "\n".join(f"  {k:<32} {v:6.1f} s" for k, v in TIMINGS.items()))


def sql(lab, statement: str) -> str:
    """SQL in the shop's database on the managed server, as its superuser over the socket (not the tool)."""
    return managed_postgres.psql(lab, statement, database=managed_postgres.DATABASE)


def newest_backup(lab) -> Path:
    dumps = sorted(backup_dir(lab).glob("shop-*.dump"), key=lambda path: path.stat().st_mtime)
    assert dumps, f"no backup in {backup_dir(lab)}"
    return dumps[-1]


def restore_list(path: Path) -> str:
    """This machine's pg_restore --list of a backup file (PostgreSQL 15, like the server)."""
    result = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def state(lab) -> dict:
    import json

    return json.loads((lab.shop_state_dir / "state.json").read_text())


def test_the_server_is_reached_by_password_over_tls_only(lab, world):
    """The world's premise: no lab host serves it, and psql without TLS or with a wrong password is refused."""
    base = ["psql", "-X", "-tA", "-h", MANAGED_PG_ADDR, "-p", str(MANAGED_PG_PORT), "-U", "shop", "-d", "shop"]
    env = {**os.environ, "PGPASSWORD": world.secret, "PGCONNECT_TIMEOUT": "5"}
    answer = subprocess.run(
        [*base, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert answer.stdout.strip() == "t", answer.stderr
    plain = subprocess.run(
        [*base, "-c", "SELECT 1"], env={**env, "PGSSLMODE": "disable"}, capture_output=True, text=True
    )
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr
    wrong = subprocess.run(
        [*base, "-c", "SELECT 1"], env={**env, "PGPASSWORD": "wrong"}, capture_output=True, text=True
    )
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


def test_without_the_password_the_deploy_refuses_before_anything_changes(lab, world):
    result = world.inv("deploy.prod", "--env", "shop", "--version", "v1.0.0", *NO_MONITOR, env={PASSWORD_VARIABLE: ""})
    assert result.returncode != 0
    assert f"the database password is missing: ${PASSWORD_VARIABLE} is not set" in result.stdout + result.stderr
    assert not (lab.shop_state_dir / "state.json").exists()
    assert not backup_dir(lab).exists() or not list(backup_dir(lab).iterdir())
    assert sql(lab, "SELECT to_regclass('alembic_version') IS NULL") == "t"


def test_first_deploy_backs_up_migrates_and_records_the_real_revision(lab, world):
    world.ok("deploy.prod", "--version", "v1.0.0", *NO_MONITOR)
    assert sql(lab, "SELECT string_agg(version_num, ',') FROM alembic_version") == ALEMBIC_HEADS["v1.0.0"]
    assert state(lab)["database_revision"] == ALEMBIC_HEADS["v1.0.0"]
    first = newest_backup(lab)
    assert first.stat().st_size > 0 and (first.parent / f"{first.name}.sha256").exists()
    restore_list(first)  # the empty database before the first migration, as pg_restore reads it
    assert oct(first.stat().st_mode & 0o777) == "0o600"


def test_second_deploy_backs_up_the_data_and_migrates_again(lab, world):
    rows = int(sql(lab, "SELECT count(*) FROM orders"))
    assert rows > 0  # the smoke script's orders, written through the app's own DATABASE_URL
    world.ok("deploy.prod", "--version", "v1.1.0", *NO_MONITOR)
    backup = newest_backup(lab)
    listing = restore_list(backup)
    assert "TABLE DATA public orders" in listing and "TABLE DATA public alembic_version" in listing
    assert sql(lab, "SELECT string_agg(version_num, ',') FROM alembic_version") == ALEMBIC_HEADS["v1.1.0"]
    assert state(lab)["database_revision"] == ALEMBIC_HEADS["v1.1.0"]
    assert (
        "status"
        in sql(
            lab, "SELECT string_agg(column_name, ' ') FROM information_schema.columns WHERE table_name = 'orders'"
        ).split()
    )
    assert "Database OK" in world.ok("verify.db").stdout


def test_restore_brings_back_deleted_rows(lab, world):
    before = int(sql(lab, "SELECT count(*) FROM orders"))
    assert before > 0
    world.ok("db.backup")
    backup = newest_backup(lab)
    sql(lab, "DELETE FROM orders")
    assert sql(lab, "SELECT count(*) FROM orders") == "0"
    world.ok("db.restore", backup.name, "--yes")
    assert int(sql(lab, "SELECT count(*) FROM orders")) == before
    assert sql(lab, "SELECT string_agg(version_num, ',') FROM alembic_version") == ALEMBIC_HEADS["v1.1.0"]
    names = {path.name for path in backup_dir(lab).glob("shop-before-restore-*.dump")}
    assert names, "the restore took no backup of what it replaced"


def files_written_since(roots: list[Path], since: float) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    recent = path.stat().st_mtime >= since - 1 and path.stat().st_size < 50_000_000
                    if recent and path.is_file() and not path.is_symlink():
                        found.append(path)
                except OSError:
                    continue
    return found


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_the_password_is_nowhere(lab, world):
    secret = world.secret.encode()
    assert world.outputs and not [output for output in world.outputs if world.secret in output]
    assert world.sampler.samples > 20 and world.sampler.clients > 0, "the argv sampler saw no database client run"
    assert world.sampler.leaks == []
    assert world.sampler.client_hosts == {CLIENT_HOST}  # database.client_host: every one-off client ran there
    # what the tool writes: its run logs, the shop's LB state (state.json, history.jsonl), the backups, anything in
    # /tmp, the release worktrees (not the app's own .env, which they link), the hosts' dockerd logs
    roots = [world.log_dir, lab.shop_state_dir, backup_dir(lab), Path("/tmp")]
    roots += [lab.shop_releases_dir(host.name) for host in FLAT.app_hosts]
    written = [path for path in files_written_since(roots, world.since) if path.name != ".env"]
    written += [lab.daemon_log(f"dockerd-{host.name}") for host in FLAT.app_hosts]
    assert any(path.parent == world.log_dir or world.log_dir in path.parents for path in written)
    leaking = [str(path) for path in written if secret in _bytes(path)]
    assert leaking == []
    print(
        f"argv samples: {world.sampler.samples}, with a one-off client: {world.sampler.clients}; "
        f"files checked: {len(written)}"
    )
