"""app.roles, app.version_variable, app.alembic_versions_dir and per-colour services that are not web-facing:
validation, and the commands, URLs and LB config they give."""

import pytest
import yaml

from ghosttasks.commands import alembic, render
from ghosttasks.config.inventory import load_inventory
from ghosttasks.decisions.migration_plan import Runner
from ghosttasks.domain.errors import ConfigError
from ghosttasks.flows import database
from ghosttasks.flows.steps.migrate import runner_command
from ghosttasks.testing import SHIPPED_INVENTORY, ScriptedExecutor, a_run


def _load(tmp_path, mutate, env="prod"):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    mutate(data["environments"])
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path).env(env)


def _error(tmp_path, mutate):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, mutate)
    return str(caught.value).replace(str(tmp_path / "hosts.yml"), "hosts.yml")


def _other_app(envs):
    """prod as an app built another way: services app/frontend/worker, its own version variable."""
    app = envs["prod"]["app"]
    app["color_services"] = ["app", "frontend", "worker"]
    app["color_ports"] = {"blue": {"app": 9001, "frontend": 9101}, "green": {"app": 9002, "frontend": 9102}}
    app["health_paths"] = {"app": "/healthz", "frontend": "/"}
    app["version_variable"] = "RELEASE_TAG"
    app["roles"] = {"migrations": "app", "public": "app", "logs": ["app", "worker"]}


def test_defaults_are_the_demo_app():
    env = load_inventory(SHIPPED_INVENTORY).env("prod")
    assert env.app.version_variable == "APP_VERSION"
    assert (env.app.roles.migrations, env.app.roles.public, env.app.roles.logs) == ("api", "api", ["api"])
    assert env.app.web_services == ["api", "web"]
    assert env.lb_health_url == "https://api.ghostworks.dev/api/v1/health"


def test_an_app_without_api_and_with_a_worker(tmp_path):
    env = _load(tmp_path, _other_app)
    assert env.app.web_services == ["app", "frontend"]  # worker: no health path, no port
    assert env.health_url(env.app_hosts[0], color="green") == "http://app1.internal.ghostworks.dev:9002/healthz"
    assert env.base_url(env.app_hosts[0], color="blue") == "http://app1.internal.ghostworks.dev:9001"
    assert env.lb_health_url == "https://api.ghostworks.dev/healthz"
    upstream = render.upstream(env)
    assert "ghostworks_app_blue" in upstream and "ghostworks_frontend_green" in upstream
    assert "worker" not in upstream
    assert "worker" not in render.selector(env)


def test_commands_run_in_the_migrations_role_with_the_version_variable(tmp_path):
    env = _load(tmp_path, _other_app)
    run = a_run(ScriptedExecutor(env))
    command = runner_command(run, Runner(version="v2.0.0", color="green"), ["alembic", "current"])
    assert command == (
        "cd /srv/ghostworks-releases/v2.0.0 && RELEASE_TAG=v2.0.0 docker compose -p ghostworks-green "
        "-f docker-compose.yml -f docker-compose.prod.yml -f docker-compose.green.yml exec -T app alembic current"
    )
    one_off = runner_command(run, Runner(version="v2.0.0", color=None), ["alembic", "current"])
    assert "RELEASE_TAG=v2.0.0 docker compose -p ghostworks-migrate" in one_off
    assert one_off.endswith("run --rm --no-deps -T app alembic current")


ROLE_ERRORS = [
    (
        lambda e: e["prod"]["app"].update(roles={"migrations": "backend"}),
        "hosts.yml: environments.prod.app: roles.migrations: 'backend' is not a service of this app "
        "(services: api, web)",
    ),
    (
        lambda e: e["prod"]["app"].update(roles={"public": "worker"}),
        "hosts.yml: environments.prod.app: roles.public: 'worker' is not a service of this app (services: api, web)",
    ),
    (
        lambda e: e["prod"]["app"].update(roles={"logs": ["api", "celery"]}),
        "hosts.yml: environments.prod.app: roles.logs[1]: 'celery' is not a service of this app (services: api, web)",
    ),
    (
        lambda e: e["prod"]["app"].update(roles={"logs": []}),
        "hosts.yml: environments.prod.app.roles.logs: List should have at least 1 item after validation, not 0",
    ),
    (
        lambda e: (e["prod"]["app"]["health_paths"].pop("api"), e["prod"]["app"].update(roles={"public": "api"})),
        "hosts.yml: environments.prod.app: roles.public: 'api' has no health path (app.health_paths.api)",
    ),
    (
        lambda e: e["prod"]["app"].update(version_variable="APP-VERSION"),
        "hosts.yml: environments.prod.app.version_variable: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$'",
    ),
    (
        lambda e: e["prod"]["app"].update(roles={"owner": "api"}),
        "hosts.yml: environments.prod.app.roles.owner: unknown key",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), ROLE_ERRORS)
def test_role_errors_are_one_line_naming_the_key(tmp_path, mutate, message):
    assert _error(tmp_path, mutate) == message


def test_a_web_facing_service_still_needs_its_port(tmp_path):
    def mutate(envs):
        _other_app(envs)
        envs["prod"]["app"]["color_ports"]["green"].pop("frontend")

    assert _error(tmp_path, mutate) == (
        "hosts.yml: environments.prod: app.color_ports.green.frontend: no port for this web-facing per-colour service"
    )


def test_a_worker_with_a_port_in_one_colour_is_web_facing(tmp_path):
    def mutate(envs):
        _other_app(envs)
        envs["prod"]["app"]["color_ports"]["blue"]["worker"] = 9201

    assert _error(tmp_path, mutate) == (
        "hosts.yml: environments.prod: app.color_ports.green.worker: no port for this web-facing per-colour service"
    )


def test_single_strategy_roles_name_its_services(tmp_path):
    def mutate(envs):
        envs["dev"]["app"]["roles"] = {"migrations": "nope"}

    with pytest.raises(ConfigError, match=r"environments\.dev\.app: roles\.migrations: 'nope' is not a service"):
        _load(tmp_path, mutate, "dev")


def test_single_strategy_needs_a_port_for_the_public_role(tmp_path):
    def mutate(envs):
        envs["dev"]["app"]["roles"] = {"public": "web"}
        envs["dev"]["app"]["ports"].pop("web")

    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, mutate, "dev")
    assert str(caught.value).endswith(
        "environments.dev: app.ports.web: no port for the public-role service (app.roles.public)"
    )


def test_db_revision_copies_the_migration_into_the_apps_own_versions_dir(tmp_path):
    assert alembic.revision_destination("/srv/ghostworks", "alembic/versions") == "/srv/ghostworks/alembic/versions/"
    assert alembic.revision_destination("/srv/shop/", "migrations/versions") == "/srv/shop/migrations/versions/"

    def mutate(envs):
        _other_app(envs)
        envs["prod"]["app"]["alembic_versions_dir"] = "migrations/versions/"

    env = _load(tmp_path, mutate)
    assert env.app.alembic_versions_dir == "migrations/versions"
    assert load_inventory(SHIPPED_INVENTORY).env("prod").app.alembic_versions_dir == "alembic/versions"
    generated = "Generating /srv/app/migrations/versions/0a1b_add_orders.py ...  done"
    executor = (
        ScriptedExecutor(env)
        .on("state.json", '{"active": "green", "colors": {"green": {"version": "v1.1.0"}}}')
        .on("revision", generated)
    )
    path = database.revision(a_run(executor, task="db.revision"), "add orders", autogenerate=False)
    assert path == "/srv/ghostworks/migrations/versions/0a1b_add_orders.py"
    copies = [c.command for c in executor.commands if " cp " in c.command]
    assert [c.split(" cp ", 1)[1] for c in copies] == [
        "app:/srv/app/migrations/versions/0a1b_add_orders.py /srv/ghostworks/migrations/versions/"
    ]


@pytest.mark.parametrize("value", ["/srv/app/alembic/versions", "../shared/versions", "alembic/../../etc", "", "."])
def test_a_versions_dir_outside_the_app_dir_is_one_line_naming_the_key(tmp_path, value):
    def mutate(envs):
        envs["prod"]["app"]["alembic_versions_dir"] = value

    assert _error(tmp_path, mutate) == (
        f"hosts.yml: environments.prod.app.alembic_versions_dir: {value!r}: not a path relative to the app dir "
        "without `..` (e.g. alembic/versions)"
    )
