"""smoke.scripts (the app's own smoke scripts), smoke.builtin, the built-in suite's answers that are not JSON, and
verify.db / verify.redis that need nothing in the app's image: commands by exact text, flows over the scripted
executor, plans of dry runs."""

from __future__ import annotations

import httpx
import pytest
import yaml

from ghosttasks.commands import compose, postgres, redis_cli, smoke_scripts
from ghosttasks.commands.pg_client import ServiceClient
from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import SmokeSettings, SmokeUser
from ghosttasks.domain.errors import CommandFailed, ConfigError, OperationFailed
from ghosttasks.flows import checks
from ghosttasks.flows.steps.smoke import run_smoke, smoke
from ghosttasks.terminal.folding import failure_tails
from ghosttasks.testing import SHIPPED_INVENTORY, ScriptedExecutor, a_run, env, prod

RELEASE = "/srv/ghostworks-releases/v1.2.0"
GREEN_API = "http://app1.internal.ghostworks.dev:8002"
SCRIPT = (
    f"cd {RELEASE} && GHOST_BASE_URL={GREEN_API} GHOST_COLOR=green GHOST_VERSION=v1.2.0 GHOST_ENV=prod "
    "timeout -k 10 300 ./scripts/smoke-tests.sh"
)


def with_smoke(environment=None, **settings):
    environment = environment or prod()
    return environment.model_copy(update={"smoke": SmokeSettings(**settings)})


def test_script_command_is_exact_and_quoted():
    variables = smoke_scripts.variables("http://10.0.0.5:8002", "green", "v1.2.0", "prod")
    assert smoke_scripts.run_script("/srv/releases/v1.2.0", "./scripts/smoke-tests.sh", variables, 300) == (
        "cd /srv/releases/v1.2.0 && GHOST_BASE_URL=http://10.0.0.5:8002 GHOST_COLOR=green GHOST_VERSION=v1.2.0 "
        "GHOST_ENV=prod timeout -k 10 300 ./scripts/smoke-tests.sh"
    )
    hostile = smoke_scripts.run_script(
        "/srv/my app", "./scripts/integration-tests.sh 'green; rm -rf /' $(id)", {"GHOST_ENV": "a b"}, 0.2
    )
    assert hostile == (
        "cd '/srv/my app' && GHOST_ENV='a b' timeout -k 10 1 ./scripts/integration-tests.sh 'green; rm -rf /' '$(id)'"
    )
    assert smoke_scripts.variables("http://h:1", None, None, "staging") == {
        "GHOST_BASE_URL": "http://h:1",
        "GHOST_COLOR": "",
        "GHOST_VERSION": "",
        "GHOST_ENV": "staging",
    }


@pytest.mark.parametrize(
    ("smoke_section", "message"),
    [
        ({"scripts": [""]}, "environments.prod.smoke.scripts: [0]: an empty command line"),
        ({"scripts": ["./a.sh 'open"]}, 'environments.prod.smoke.scripts: [0] "./a.sh \'open": not a command line'),
        ({"script_timeout_seconds": 0}, "environments.prod.smoke.script_timeout_seconds: Input should be greater"),
        ({"builtin": "sometimes"}, "environments.prod.smoke.builtin: Input should be a valid boolean"),
        ({"database_command": "x"}, "environments.prod.smoke.database_command: unknown key"),
    ],
)
def test_smoke_settings_errors_name_the_key(tmp_path, smoke_section, message):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    data["environments"]["prod"]["smoke"] = smoke_section
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert f"{path}: {message}" in str(caught.value)


def test_scripts_run_in_the_release_against_the_new_colour_after_the_builtin_suite():
    environment = with_smoke(
        scripts=["./scripts/smoke-tests.sh", "./scripts/integration-tests.sh green"], builtin=False
    )
    executor = ScriptedExecutor(environment)
    run = a_run(executor)
    smoke(run, "green", "v1.2.0")
    assert [(command.host, command.command) for command in executor.commands] == [
        ("app1", SCRIPT),
        ("app1", SCRIPT.replace("./scripts/smoke-tests.sh", "./scripts/integration-tests.sh green")),
    ]
    assert "smoke script ./scripts/smoke-tests.sh: passed against green" in run.out.printed
    assert not [entry for entry in executor.entries if entry.startswith("probe ")]  # builtin: false


def test_a_failing_script_raises_with_its_last_lines():
    output = "".join(f"check {n} ok\n" for n in range(40)) + "FAIL: POST /orders answered 500\n"
    executor = ScriptedExecutor(with_smoke(scripts=["./scripts/smoke-tests.sh"], builtin=False))
    executor.on("smoke-tests.sh", stdout=output, exit_code=1)
    run = a_run(executor)
    with pytest.raises(CommandFailed) as caught:
        smoke(run, "green", "v1.2.0")
    assert str(caught.value) == (
        f"smoke script ./scripts/smoke-tests.sh failed against green ({GREEN_API}) on app1: exit 1; last lines: "
        "check 38 ok | check 39 ok | FAIL: POST /orders answered 500"
    )
    assert caught.value.hint == f"its whole output is in the run log; to run it by hand on app1: {SCRIPT}"
    tails = failure_tails(caught.value)
    assert tails[0] == "last 30 lines of app1's output:" and tails[-1] == "  FAIL: POST /orders answered 500"
    assert "FAIL smoke script ./scripts/smoke-tests.sh: exit 1 against green" in run.out.printed


def test_a_script_stopped_at_its_limit_says_so():
    executor = ScriptedExecutor(with_smoke(scripts=["./s.sh"], builtin=False, script_timeout_seconds=5))
    executor.on("./s.sh", exit_code=124)
    with pytest.raises(CommandFailed, match=r"failed against green .* stopped at its limit of 5 s; last lines: no"):
        smoke(a_run(executor), "green", "v1.2.0")


def test_single_strategy_runs_scripts_in_the_app_dir():
    staging = with_smoke(env("staging"), scripts=["./scripts/smoke-tests.sh"], builtin=False)
    executor = ScriptedExecutor(staging)
    smoke(a_run(executor, task="deploy.staging"), None, "main-abc1234")
    (command,) = executor.commands
    directory = staging.app_dir(staging.app_hosts[0])
    base = staging.base_url(staging.app_hosts[0])
    assert command.command == (
        f"cd {directory} && GHOST_BASE_URL={base} GHOST_COLOR='' GHOST_VERSION=main-abc1234 GHOST_ENV=staging "
        "timeout -k 10 300 ./scripts/smoke-tests.sh"
    )


def test_nothing_configured_is_said_not_passed():
    executor = ScriptedExecutor(with_smoke(builtin=False))
    run = a_run(executor)
    smoke(run, "green", "v1.2.0")
    assert "smoke tests: not configured (smoke.builtin: false and no smoke.scripts)" in run.out.printed
    assert executor.commands == []


def test_builtin_without_users_keeps_its_warning():
    run = a_run(ScriptedExecutor(with_smoke()))
    smoke(run, "green", "v1.2.0")
    assert "no smoke users in the inventory (smoke.users): only health was checked" in run.out.printed


def test_a_blue_green_script_needs_the_colours_version():
    executor = ScriptedExecutor(with_smoke(scripts=["./s.sh"], builtin=False))
    with pytest.raises(OperationFailed, match="no version recorded for green"):
        smoke(a_run(executor), "green", None)


def test_deploy_prod_plan_runs_the_scripts_before_the_switch(tmp_path, monkeypatch, inv):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    data["environments"]["prod"].setdefault("smoke", {})["scripts"] = ["./scripts/smoke-tests.sh"]
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("GHOST_INVENTORY", str(path))
    code, plan, err = inv("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes")
    assert code == 0, err
    lines = plan.splitlines()
    script = next(index for index, line in enumerate(lines) if "smoke-tests.sh" in line)
    blue = SCRIPT.replace(":8002", ":8001").replace("GHOST_COLOR=green", "GHOST_COLOR=blue")
    assert lines[script] == f"[app1] $ {blue}"  # a dry run assumes green serves: v1.2.0 goes into blue
    step = lines.index("== smoke test blue")
    flag = lines.index("[lb1] $ rm -f /var/lib/ghosttasks/ghostworks-active-green")
    assert step < script < lines.index("== switch traffic") < flag


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/v1/auth/login":
        return httpx.Response(200, text="<html>maintenance</html>")
    return httpx.Response(404)


def test_a_login_answer_that_is_not_json_is_a_failed_check(monkeypatch):
    environment = with_smoke(users=[SmokeUser(tenant="acme", username="admin", password="pw")])
    executor = ScriptedExecutor(environment)
    client = httpx.Client(transport=httpx.MockTransport(_answer))
    monkeypatch.setattr(executor, "http_client", lambda url: client)
    report = run_smoke(a_run(executor), GREEN_API, 3)
    assert report.failed == ["login acme: HTTP 200, not a JSON object"]


def test_artifact_answers_that_are_not_json_are_failed_checks(monkeypatch):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/login":
            body = request.read()
            return httpx.Response(401 if b"wrong-password" in body else 200, json={"access_token": "t"})
        if request.headers.get("Authorization") is None:
            return httpx.Response(401)
        if request.method == "POST":
            return httpx.Response(201, text="created")  # not JSON: no id to read back
        return httpx.Response(200, text="ok")

    environment = with_smoke(users=[SmokeUser(tenant="acme", username="admin", password="pw")])
    executor = ScriptedExecutor(environment)
    client = httpx.Client(transport=httpx.MockTransport(answer))
    monkeypatch.setattr(executor, "http_client", lambda url: client)
    report = run_smoke(a_run(executor), GREEN_API, 3)
    assert report.failed == ["artifact create: HTTP 201, not a JSON object"]


def test_verify_db_and_redis_use_the_shared_services_on_the_db_host():
    executor = ScriptedExecutor(prod()).on("SELECT 1", "1\n").on("redis-cli ping", "PONG\n")
    run = a_run(executor, task="verify.db")
    checks.database(run)
    checks.redis(run)
    shared = "cd /srv/ghostworks && docker compose -p ghostworks -f docker-compose.yml -f docker-compose.prod.yml"
    assert [(command.host, command.command) for command in executor.commands] == [
        ("db1", f"{shared} exec -T postgres psql -U postgres -d ghostworks -X -q -tA -c 'SELECT 1'"),
        ("db1", f"{shared} exec -T redis redis-cli ping"),
    ]
    assert "db1: Database OK (SELECT 1 as postgres on ghostworks)" in run.out.printed
    assert "db1: Redis OK (PING: PONG)" in run.out.printed


def test_verify_redis_fails_on_anything_but_pong():
    executor = ScriptedExecutor(prod()).on("redis-cli", "NOAUTH Authentication required.\n")
    with pytest.raises(OperationFailed, match=r"Redis connectivity check failed: .*answered 'NOAUTH.*; .*'NOAUTH"):
        checks.redis(a_run(executor, task="verify.redis"))


def test_verify_redis_asks_the_db_hosts_address_when_localhost_refuses():
    refused = "Could not connect to Redis at 127.0.0.1:6379: Connection refused"
    executor = ScriptedExecutor(prod()).on("redis-cli ping", stderr=refused, exit_code=1).on("redis-cli -h", "PONG\n")
    run = a_run(executor, task="verify.redis")
    checks.redis(run)
    assert [command.command.split(" exec -T ")[1] for command in executor.commands] == [
        "redis redis-cli ping",
        "redis redis-cli -h db1.internal.ghostworks.dev ping",
    ]
    assert "db1: Redis OK (PING at db1.internal.ghostworks.dev: PONG)" in run.out.printed


def test_a_configured_check_runs_in_the_serving_migrations_role_service():
    environment = prod().model_copy(
        update={"checks": prod().checks.model_copy(update={"database_command": "python3 -m app.check_db --quick"})}
    )
    executor = ScriptedExecutor(environment, unscripted="assume").on("app.check_db", "connected in 3 ms\n")
    run = a_run(executor, task="verify.db")
    checks.database(run)
    command = executor.commands[-1]
    assert command.host == "app1"
    assert command.command.endswith("exec -T api python3 -m app.check_db --quick")
    assert "app1: Database OK (connected in 3 ms)" in run.out.printed


def test_check_facts_by_exact_command():
    project = compose.Project("/srv/gw", "gw", ("compose.yml",))
    assert postgres.select_one(ServiceClient(project, "db"), user="u", database="d").command == (
        "cd /srv/gw && docker compose -p gw -f compose.yml exec -T db psql -U u -d d -X -q -tA -c 'SELECT 1'"
    )
    assert redis_cli.ping(project, service="cache").command == (
        "cd /srv/gw && docker compose -p gw -f compose.yml exec -T cache redis-cli ping"
    )
    assert redis_cli.ping(project, service="cache", address="10.0.0.3").command.endswith(
        "exec -T cache redis-cli -h 10.0.0.3 ping"
    )
    assert compose.exec_check(project, "app", ["sh", "-c", "true"], "X").command.endswith("exec -T app sh -c true")


def test_a_script_folds_under_its_own_name_unless_verbose():
    executor = ScriptedExecutor(prod())
    host = prod().app_hosts[0]
    assert executor.fold(host, SCRIPT, "smoke").phase == "smoke"
    assert executor.fold(host, SCRIPT, True) is None  # not a docker command: streams as before
    executor.verbose = True
    assert executor.fold(host, SCRIPT, "smoke") is None
