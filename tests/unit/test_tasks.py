"""The command-line surface: every task listed and documented, bad input refused with exit 2."""

import pytest

TASKS = {
    "deploy": [
        "tag",
        "dev",
        "staging",
        "prod",
        "rollback",
        "emergency-rollback",
        "status",
        "history",
        "lock",
        "unlock",
    ],
    "traffic": ["switch", "status", "verify"],
    "db": ["upgrade", "downgrade", "current", "history", "stamp", "revision", "backup", "backups", "restore"],
    "verify": ["health", "db", "redis", "smoke", "traffic", "config", "monitoring", "monitor", "all"],
    "stack": ["ps", "logs", "stats", "config", "pg-isready"],
}


def test_every_task_is_listed(inv):
    code, out, _ = inv("--list")
    assert code == 0
    for namespace, names in TASKS.items():
        for name in names:
            assert f"  {namespace}.{name} " in out


@pytest.mark.parametrize("name", [f"{ns}.{name}" for ns, names in TASKS.items() for name in names])
def test_every_argument_has_help(inv, name):
    code, out, _ = inv("--help", name)
    assert code == 0
    docstring = out.split("Docstring:\n")[1].split("\n\n")[0].strip()
    assert docstring and docstring != "none"
    options = out.split("Options:\n")[1] if "Options:\n" in out else ""
    for line in options.splitlines():
        if line.strip().startswith("-"):
            assert len(line.split(None, 1)) == 2 or line.strip().endswith("]"), f"{name}: no help on {line!r}"


@pytest.mark.parametrize("name", [f"{ns}.{name}" for ns, names in TASKS.items() for name in names])
def test_no_short_flag_takes_the_letter_users_type_for_help(inv, name):
    code, out, _ = inv("--help", name)
    assert code == 0
    options = out.split("Options:\n")[1] if "Options:\n" in out else ""
    assert not any(line.strip().startswith("-h") for line in options.splitlines()), f"{name}: -h is an option"


def test_health_timeout_of_deploy_prod_is_t_and_env_keeps_e(inv):
    _, out, _ = inv("--help", "deploy.prod")
    assert "-t STRING, --health-timeout=STRING" in out and "-e STRING, --env=STRING" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy.prod", "--version", "1.0", "--yes"], "error: --version '1.0' is not a version like v1.2.3"),
        (["deploy.prod", "--version", "v1.0.0;reboot", "--yes"], "error: --version 'v1.0.0;reboot' is not a version"),
        (["traffic.switch", "purple", "--yes"], "error: color 'purple' is not blue or green"),
        (["db.downgrade", "-r", "$(id)", "--yes"], "error: --revision '$(id)' is not an alembic revision"),
        (["db.restore", "--file", "../../etc/shadow", "--yes"], "error: --file '../../etc/shadow' is not a backup"),
        (["deploy.staging", "--ref", "--upload-pack=x"], "error: --ref '--upload-pack=x' is not a branch or tag"),
        (["deploy.lock", "--reason", ""], "error: --reason is required"),
        (["deploy.rollback", "--db-rev", "x y", "--yes"], "error: --db-rev 'x y' is not an alembic revision"),
        (["stack.logs", "api;id"], "error: service 'api;id' is not a compose service name"),
        (["deploy.prod", "--version", "v1.0.0", "--monitor-minutes", "-5", "--yes"], "must be a positive number"),
        (["deploy.status", "--env", "qa"], "no environment 'qa' (known: dev, prod, staging)"),
    ],
)
def test_bad_input_exits_2_with_one_line(inv, argv, message):
    code, out, err = inv(*argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_protected_environment_refuses_without_yes_off_a_terminal(inv, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = inv("deploy.prod", "--version", "v1.1.0")
    assert code == 2
    assert err.strip() == ("error: refusing to change prod without --yes: stdin is not a terminal (Deploy v1.1.0)")


def test_broken_inventory_exits_2_before_anything(inv, tmp_path, monkeypatch):
    broken = tmp_path / "hosts.yml"
    broken.write_text("default_env: prod\nenvironments: {}\n")
    monkeypatch.setenv("GHOST_INVENTORY", str(broken))
    code, _, err = inv("deploy.status")
    assert code == 2
    assert (
        err.strip() == f"error: {broken}: environments: Dictionary should have at least 1 item after validation, not 0"
    )
