"""deploy.dev on an app that is not the demo: the env file created from .env.example only when the checkout has one
(said either way), and no seed when app.seed_command is null or empty (`seed: not configured`)."""

from pathlib import Path

import pytest
import yaml

from ghosttasks import testing
from ghosttasks.config.inventory import load_inventory
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows import single
from ghosttasks.testing import ScriptedExecutor, a_run

PLANS = Path(__file__).parent / "plans"


def _dev_inventory(tmp_path, **app) -> Path:
    data = yaml.safe_load(testing.SHIPPED_INVENTORY.read_text())
    data["environments"]["dev"]["app"].update(app)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("seed", [None, "", "  "])
def test_no_seed_command_is_no_seed(tmp_path, seed):
    assert load_inventory(_dev_inventory(tmp_path, seed_command=seed)).env("dev").app.seed_command is None


def test_golden_plan_without_a_seed(request, inv, tmp_path, monkeypatch):
    monkeypatch.setenv("GHOST_INVENTORY", str(_dev_inventory(tmp_path, seed_command=None)))
    code, out, err = inv("deploy.dev", "--dry-run")
    assert code == 0, err
    golden = PLANS / "deploy-dev-no-seed.txt"
    if request.config.getoption("--regen-plans"):
        golden.write_text(out)
    assert out == golden.read_text()
    assert "== seed demo data\n# seed: not configured (app.seed_command)\n\n== verify deployment" in out
    assert "seed_demo_data" not in out


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ("exists", "ok   local: .env exists, left as it is"),
        ("created", "ok   local: .env created from .env.example (mode 0600)"),
        ("no-example", "warn local: .env not created: the checkout has no .env.example"),
    ],
)
def test_the_env_file_is_said_either_way(tmp_path, answer, line):
    env = load_inventory(_dev_inventory(tmp_path, seed_command="python3 -m shop.seed --rows '10 000'")).env("dev")
    executor = ScriptedExecutor(env, unscripted="assume").on("echo no-example", answer + "\n")
    run = a_run(executor, task="deploy.dev")
    single.deploy_dev(run)
    printed = run.out.printed.splitlines()
    assert line in printed
    seeds = [c.command for c in executor.commands if " exec -T api " in c.command and "alembic" not in c.command]
    assert seeds == [
        'cd "$HOME"/ghostworks && docker compose -p ghostworks -f docker-compose.yml -f docker-compose.override.yml '
        "exec -T api python3 -m shop.seed --rows '10 000'"
    ]


def test_an_env_file_command_that_says_something_else_fails_naming_it(tmp_path):
    env = load_inventory(_dev_inventory(tmp_path)).env("dev")
    executor = ScriptedExecutor(env, unscripted="assume").on("echo no-example", "cp: permission denied\n")
    with pytest.raises(OperationFailed, match="answered 'cp: permission denied'"):
        single.deploy_dev(a_run(executor, task="deploy.dev"))


def test_without_a_seed_command_the_step_says_not_configured_and_runs_nothing(tmp_path):
    env = load_inventory(_dev_inventory(tmp_path, seed_command="")).env("dev")
    executor = ScriptedExecutor(env, unscripted="assume")
    run = a_run(executor, task="deploy.dev")
    single.deploy_dev(run)
    assert "==> seed demo data\nseed: not configured (app.seed_command)\n==> verify deployment\n" in run.out.printed
    assert [c.command.rsplit(" exec -T api ", 1)[1] for c in executor.commands if " exec -T api " in c.command] == [
        "alembic upgrade head"
    ]
