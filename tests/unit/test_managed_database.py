"""A managed PostgreSQL (database.host): its settings, the one-off client's command lines (exact), where the
password goes (stdin, never a command line), and the golden dry-run plans of deploy.prod, db.activity and db.slow
against it."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ghosttasks.commands import pg_dump, postgres
from ghosttasks.commands.pg_client import OneOffClient
from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import DatabaseSettings
from ghosttasks.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PLANS = Path(__file__).parent / "plans"
SECRET = "managed-pg-marker-secret-7f3a"
CLIENT = OneOffClient("postgres:16", "pg.internal.example", 5432, "require")
RUN = (
    "IFS= read -r PGPASSWORD && export PGPASSWORD && docker run --rm -i --network host --log-driver none "
    "-e PGPASSWORD -e PGHOST=pg.internal.example -e PGPORT=5432 -e PGSSLMODE=require postgres:16"
)
MANAGED = {
    "host": "pg.internal.example",
    "port": 5432,
    "name": "ghostworks",
    "user": "ghostworks",
    "sslmode": "require",
    "password_env": "GHOSTWORKS_DB_PASSWORD",
    "client_image": "postgres:16",
    "backup_dir": "/var/backups/ghostworks",
    "keep_backups": 14,
}


# -- settings ----------------------------------------------------------------------------------------------------
def test_without_host_the_database_is_the_compose_service_as_before():
    settings = DatabaseSettings(backup_dir="/b")
    assert (settings.managed, settings.service, settings.password()) == (False, "postgres", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "pg", "password_env": "P"}, "client_image: required with host"),
        ({"host": "pg", "client_image": "postgres:16"}, "password_env or password_file: required with host"),
        ({"host": "pg", "client_image": "i", "password_env": "P", "password_file": "/f"}, "give one, not both"),
        ({"host": "pg", "client_image": "i", "password_env": "P", "sslmode": "verify-full"}, "ssl_root_cert: required"),
        ({"host": "pg", "client_image": "i", "password_env": "P", "sslmode": "always"}, "Input should be 'disable'"),
        ({"host": "pg", "client_image": "i", "password_env": "P", "port": 0}, "greater than or equal to 1"),
        ({"host": "pg; rm -rf /", "client_image": "i", "password_env": "P"}, "String should match pattern"),
        ({"password_env": "P"}, "password_env: only with host"),
        ({"client_image": "postgres:16"}, "client_image: only with host"),
    ],
)
def test_bad_managed_settings_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        DatabaseSettings(backup_dir="/b", **fields)


def test_the_password_comes_from_the_named_variable_or_the_first_line_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PW", SECRET)
    base = {"backup_dir": "/b", "host": "pg", "client_image": "i"}
    assert DatabaseSettings(**base, password_env="DB_PW").password() == SECRET
    monkeypatch.setenv("DB_PW", "")
    assert DatabaseSettings(**base, password_env="DB_PW").password() is None
    secret = tmp_path / "pw"
    secret.write_text(f"{SECRET}\nignored\n")
    assert DatabaseSettings(**base, password_file=str(secret)).password() == SECRET
    assert DatabaseSettings(**base, password_file=str(tmp_path / "missing")).password() is None


def managed_inventory(tmp_path: Path, **database) -> Path:
    """The shipped hosts.yml with prod's database managed (no db host, no shared services)."""
    raw = yaml.safe_load((ROOT / "hosts.yml").read_text())
    prod = raw["environments"]["prod"]
    prod["hosts"] = [host for host in prod["hosts"] if "db" not in host["roles"]]
    prod["app"]["shared_services"] = []
    prod["database"] = {**MANAGED, **database}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_managed_database_needs_no_db_host_and_its_client_runs_on_the_first_app_host(tmp_path):
    env = load_inventory(managed_inventory(tmp_path)).env("prod")
    assert env.database.managed and not env.hosts_with("db")
    assert env.database_client_host.name == "app1"
    env = load_inventory(managed_inventory(tmp_path, client_host="app2")).env("prod")
    assert env.database_client_host.name == "app2"
    with pytest.raises(ConfigError, match="no host has the role 'db'"):
        _ = env.db_host


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_host": "db9"}, r"environments\.prod: database\.client_host: 'db9' is not a host"),
        ({"client_image": None}, r"environments\.prod\.database: client_image: required with host"),
        ({"password_env": None}, r"environments\.prod\.database: password_env or password_file: required"),
    ],
)
def test_inventory_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_inventory(managed_inventory(tmp_path, **change))


def test_shared_services_without_a_db_host_are_refused(tmp_path):
    path = managed_inventory(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["environments"]["prod"]["app"]["shared_services"] = ["redis"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"app\.shared_services: they run on the db host, and no host has the role"):
        load_inventory(path)


# -- command lines -------------------------------------------------------------------------------------------------
def test_the_revision_read_runs_psql_in_a_one_off_container_and_the_password_is_read_from_stdin():
    assert postgres.schema_revision(CLIENT, user="gw", database="gw") == (
        f"{RUN} psql -U gw -d gw -X -q -tA -c 'SELECT version_num FROM alembic_version'"
    )


def test_the_database_check_and_pg_isready_use_the_same_container():
    assert postgres.select_one(CLIENT, user="gw", database="gw").command == (
        f"{RUN} psql -U gw -d gw -X -q -tA -c 'SELECT 1'"
    )
    assert postgres.ready(CLIENT, user="gw").command == f"{RUN} pg_isready -U gw"


def test_psql_reads_carry_their_session_settings_as_container_environment():
    assert postgres.psql(CLIENT, user="gw", database="gw", sql="SELECT 2") == (
        "IFS= read -r PGPASSWORD && export PGPASSWORD && docker run --rm -i --network host --log-driver none "
        "-e PGPASSWORD -e PGHOST=pg.internal.example -e PGPORT=5432 -e PGSSLMODE=require -e PGAPPNAME=ghosttasks "
        "-e 'PGOPTIONS=-c statement_timeout=10s' postgres:16 psql -U gw -d gw -X -q -tA -v ON_ERROR_STOP=1 "
        "-c 'SELECT 2'"
    )


def test_the_backup_streams_from_the_container_into_a_partial_file_on_the_client_host():
    assert pg_dump.dump(CLIENT, user="gw", database="gw", path="/b/prod-v1.dump", lock_wait_seconds=30) == (
        f"umask 077 && mkdir -p /b && {{ {RUN} pg_dump -U gw -Fc --lock-wait-timeout=30s gw "
        "> /b/prod-v1.dump.partial; } && mv -f /b/prod-v1.dump.partial /b/prod-v1.dump "
        "|| { status=$?; rm -f /b/prod-v1.dump.partial; exit $status; }"
    )


def test_the_backup_is_verified_and_restored_through_the_containers_stdin():
    assert pg_dump.verify(CLIENT, "/b/x.dump") == (
        f"test -s /b/x.dump && {RUN} pg_restore --list < /b/x.dump > /dev/null "
        "&& (cd /b && umask 077 && sha256sum x.dump > /b/x.dump.sha256) && stat -c 'size=%s' /b/x.dump "
        "&& cat /b/x.dump.sha256"
    )
    assert pg_dump.restore(CLIENT, user="gw", database="gw", path="/b/x.dump") == (
        f"{RUN} pg_restore -U gw -d gw --clean --if-exists --single-transaction --no-owner < /b/x.dump"
    )


def test_a_root_certificate_is_mounted_read_only():
    client = OneOffClient("postgres:15", "10.0.0.5", 6432, "verify-full", "/etc/ssl/db-ca.pem")
    assert client.command(["pg_isready"]) == (
        "IFS= read -r PGPASSWORD && export PGPASSWORD && docker run --rm -i --network host --log-driver none "
        "-e PGPASSWORD -e PGHOST=10.0.0.5 -e PGPORT=6432 -e PGSSLMODE=verify-full "
        "-e PGSSLROOTCERT=/run/ghosttasks/root.crt -v /etc/ssl/db-ca.pem:/run/ghosttasks/root.crt:ro "
        "postgres:15 pg_isready"
    )


# -- the golden plan ------------------------------------------------------------------------------------------------
def test_golden_plan_of_deploy_prod_against_a_managed_database(request, inv, tmp_path, monkeypatch):
    monkeypatch.setenv("GHOST_INVENTORY", str(managed_inventory(tmp_path)))
    monkeypatch.setenv("GHOSTWORKS_DB_PASSWORD", SECRET)
    code, out, err = inv("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes")
    assert code == 0, err
    out = out.replace(str(tmp_path), "<tmp>")
    golden = PLANS / "deploy-prod-managed.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()
    assert SECRET not in out + err
    lines = out.splitlines()
    dump = next(line for line in lines if "pg_dump -U ghostworks -Fc" in line)
    assert dump.startswith("[app1] $ umask 077 && mkdir -p /var/backups/ghostworks") and "docker run --rm -i" in dump
    assert dump.endswith("(a secret on stdin)")
    assert "[db1]" not in out


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("db-activity-managed", ["db.activity", "--dry-run"]),
        ("db-slow-managed", ["db.slow", "--limit", "5", "--dry-run"]),
    ],
)
def test_golden_plans_of_db_activity_and_db_slow_against_a_managed_database(
    request, inv, tmp_path, monkeypatch, name, argv
):
    """Issue 25 on a managed server: the same read-only psql reads, in the one-off client on the first app host."""
    monkeypatch.setenv("GHOST_INVENTORY", str(managed_inventory(tmp_path)))
    monkeypatch.setenv("GHOSTWORKS_DB_PASSWORD", SECRET)
    code, out, err = inv(*argv)
    assert code == 0, err
    out = out.replace(str(tmp_path), "<tmp>")
    golden = PLANS / f"{name}.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()
    assert SECRET not in out + err
    reads = [line for line in out.splitlines() if line.startswith("[")]
    client = f"[app1] $ {RUN.replace(' postgres:16', ' -e PGAPPNAME=ghosttasks')}"
    assert reads and all(line.startswith(client) and " postgres:16 psql -U ghostworks " in line for line in reads)
    assert all(line.endswith("(a secret on stdin)") for line in reads)  # read-only: no lock, no history
    assert "[db1]" not in out


def managed_run(tmp_path: Path, **database):
    from ghosttasks.testing import ScriptedExecutor, a_run

    executor = ScriptedExecutor(
        load_inventory(managed_inventory(tmp_path, **database)).env("prod"), unscripted="assume"
    )
    return executor, a_run(executor)


def test_without_the_password_a_real_run_refuses_before_running_anything(tmp_path, monkeypatch):
    from ghosttasks.domain.errors import OperationFailed
    from ghosttasks.flows.steps.backup import take_backup

    monkeypatch.delenv("GHOSTWORKS_DB_PASSWORD", raising=False)
    executor, run = managed_run(tmp_path)
    with pytest.raises(OperationFailed, match=r"the database password is missing: \$GHOSTWORKS_DB_PASSWORD is not set"):
        take_backup(run, "manual")
    assert executor.commands == []


def test_the_password_goes_on_stdin_of_the_client_commands_only_and_is_masked(tmp_path, monkeypatch):
    from ghosttasks.domain.masking import mask
    from ghosttasks.flows.steps.backup import take_backup

    monkeypatch.setenv("GHOSTWORKS_DB_PASSWORD", SECRET)
    executor, run = managed_run(tmp_path)
    info = take_backup(run, "manual")
    assert info.path.startswith("/var/backups/ghostworks/prod-manual-")
    ran = [(command.host, command.stdin, "docker run" in command.command) for command in executor.commands]
    assert ran == [("app1", True, True), ("app1", True, True), ("app1", False, False)]  # dump, verify, retention
    assert SECRET not in executor.text() + "".join(command.command for command in executor.commands)
    assert mask(f"password={SECRET}x {SECRET}") == "password=******** ********"


def test_verify_redis_without_a_db_host_says_it_cannot_be_evaluated(tmp_path):
    from ghosttasks.domain.errors import OperationFailed
    from ghosttasks.flows.checks import redis

    executor, run = managed_run(tmp_path)
    with pytest.raises(OperationFailed, match=r"verify\.redis cannot be evaluated: no host has the role 'db'"):
        redis(run)
    assert executor.commands == []


def test_the_client_host_gets_the_docker_access_check_whatever_its_roles(tmp_path):
    from ghosttasks.flows.steps.access_check import _checks

    _, run = managed_run(tmp_path, client_host="lb1")
    lb1 = next(host for host in run.env.hosts if host.name == "lb1")
    assert _checks(run, lb1, docker=True) == ["sudo", "docker"]


def test_queue_depth_without_a_db_host_is_said_as_not_judged(tmp_path):
    from ghosttasks import testing
    from ghosttasks.flows.steps.workers import say_queue_depth

    path = managed_inventory(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["environments"]["prod"]["app"]["queue_keys"] = ["ghostworks:jobs"]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    executor = testing.ScriptedExecutor(load_inventory(path).env("prod"), unscripted="assume")
    run = testing.a_run(executor, task="deploy.prod")
    assert say_queue_depth(run, "before") is None
    assert "queue depth before" in run.out.printed and "no host has the role 'db'" in run.out.printed
    assert not executor.commands
