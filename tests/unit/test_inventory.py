"""The shipped hosts.yml loads; each broken file gives its exact one-line message."""

from pathlib import Path

import pytest
import yaml

from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import RUNBOOK_REQUIRED_ENV
from ghosttasks.domain.errors import ConfigError
from ghosttasks.testing import SHIPPED_INVENTORY

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_inventory_loads():
    inventory = load_inventory(SHIPPED_INVENTORY)
    prod = inventory.env()
    assert inventory.default_env == "prod"
    assert [h.name for h in prod.app_hosts] == ["app1", "app2"]
    assert prod.lb_host.name == "lb1" and prod.db_host.name == "db1"
    assert prod.app.required_env == RUNBOOK_REQUIRED_ENV
    assert prod.thresholds.error_rate == 0.10 and prod.thresholds.p95_seconds == 2.0
    assert prod.thresholds.health_failures == 3 and prod.thresholds.monitor_minutes == 15
    assert (
        prod.health_url(prod.app_hosts[0], "api", "green") == "http://app1.internal.ghostworks.dev:8002/api/v1/health"
    )
    assert prod.is_protected and not inventory.env("dev").is_protected
    assert inventory.env("dev").hosts[0].local


def _broken(tmp_path, mutate):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    mutate(data)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    return str(caught.value).replace(str(path), "hosts.yml")


def _prod(data):
    return data["environments"]["prod"]


BROKEN = [
    (lambda d: d.update(default_env="qa"), "hosts.yml: default_env: 'qa' is not one of the environments"),
    (lambda d: _prod(d).pop("app"), "hosts.yml: environments.prod.app: required key is missing"),
    (
        lambda d: _prod(d)["ssh"].update(port=70000),
        "hosts.yml: environments.prod.ssh.port: Input should be less than or equal to 65535",
    ),
    (
        lambda d: _prod(d)["hosts"][0].update(roles=["balancer"]),
        "hosts.yml: environments.prod.hosts.0.roles.0: Input should be 'lb', 'app', 'db' or 'monitoring'",
    ),
    (lambda d: _prod(d)["hosts"][0].update(colour="x"), "hosts.yml: environments.prod.hosts.0.colour: unknown key"),
    (
        lambda d: _prod(d)["hosts"][1].update(name="lb1"),
        "hosts.yml: environments.prod: hosts: duplicate host name 'lb1'",
    ),
    (
        lambda d: _prod(d)["hosts"].pop(0),
        "hosts.yml: environments.prod: hosts: strategy 'blue-green' needs a host with the role 'lb'",
    ),
    (
        lambda d: _prod(d)["lb"].update(state_host="app1"),
        "hosts.yml: environments.prod: lb.state_host: 'app1' is not a host with the role 'lb'",
    ),
    (
        lambda d: _prod(d)["app"]["color_ports"].pop("green"),
        "hosts.yml: environments.prod: app.color_ports.green: required for strategy 'blue-green'",
    ),
    (
        lambda d: _prod(d)["app"]["color_ports"]["blue"].pop("web"),
        "hosts.yml: environments.prod: app.color_ports.blue.web: no port for this web-facing per-colour service",
    ),
    (
        lambda d: _prod(d)["app"].update(project="Ghost Works"),
        "hosts.yml: environments.prod.app.project: String should match pattern '^[a-z0-9][a-z0-9_-]*$'",
    ),
    (
        lambda d: _prod(d)["thresholds"].update(error_rate=1.5),
        "hosts.yml: environments.prod.thresholds.error_rate: Input should be less than or equal to 1",
    ),
    (
        lambda d: _prod(d)["hosts"][0].update(name="lb 1;"),
        "hosts.yml: environments.prod.hosts.0.name: a host name of letters, digits, '-', '_' or '.'",
    ),
    (lambda d: _prod(d).pop("lb"), "hosts.yml: environments.prod: lb: required for strategy 'blue-green'"),
    (
        lambda d: d["environments"]["dev"]["app"].pop("ports"),
        "hosts.yml: environments.dev: app.ports: required for strategy 'single' (service -> port)",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BROKEN)
def test_broken_inventory_messages(tmp_path, mutate, message):
    assert _broken(tmp_path, mutate) == message


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(ConfigError, match="inventory file not found"):
        load_inventory(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("environments: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yml: line 2 is not valid YAML"):
        load_inventory(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_inventory(bad)


def test_unknown_environment_lists_known(tmp_path):
    inventory = load_inventory(SHIPPED_INVENTORY)
    with pytest.raises(ConfigError, match=r"no environment 'qa' \(known: dev, prod, staging\)"):
        inventory.env("qa")


def _with_workers(data, **workers):
    app = _prod(data)["app"]
    app["color_services"] = [*app["color_services"], *workers]
    app["workers"] = workers


WORKERS_BROKEN = [
    (
        lambda d: _prod(d)["app"].update(workers={"worker": {}}),
        "hosts.yml: environments.prod.app: workers.worker: not a per-colour service (app.color_services)",
    ),
    (
        lambda d: _with_workers(d, api={}),
        "hosts.yml: environments.prod.app: workers.api: a worker has no port and no health path (it is web-facing)",
    ),
    (
        lambda d: _with_workers(d, worker={"stop_signal": "TERM"}),
        "hosts.yml: environments.prod.app.workers.worker.stop_signal: 'TERM' is not a signal name "
        "(e.g. SIGTERM, SIGQUIT)",
    ),
    (
        lambda d: _with_workers(d, worker={"stop_timeout": 0}),
        "hosts.yml: environments.prod.app.workers.worker.stop_timeout: Input should be greater than or equal to 1",
    ),
    (
        lambda d: _with_workers(d, worker={"kind": "cron"}),
        "hosts.yml: environments.prod.app.workers.worker.kind: Input should be 'consumer' or 'singleton'",
    ),
    (
        lambda d: _with_workers(d, scheduler={"kind": "singleton", "hosts": ["app1", "app2"]}),
        "hosts.yml: environments.prod.app.workers.scheduler: hosts: a singleton runs on one host, not 2",
    ),
    (
        lambda d: _with_workers(d, worker={"hosts": ["app1", "db1"]}),
        "hosts.yml: environments.prod: app.workers.worker.hosts.1: 'db1' is not an app host",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), WORKERS_BROKEN)
def test_broken_worker_messages(tmp_path, mutate, message):
    assert _broken(tmp_path, mutate) == message


def test_workers_are_per_colour_services_that_are_not_web_facing(tmp_path):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    _with_workers(
        data,
        worker={"stop_signal": "SIGQUIT", "stop_timeout": 90},
        scheduler={"kind": "singleton"},
        mailer={"hosts": ["app2"]},
    )
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    prod = load_inventory(path).env()
    assert prod.app.web_services == ["api", "web"]
    assert prod.app.colour_up_services == ["api", "web"]
    assert prod.app.workers["worker"].stop_signal == "SIGQUIT" and prod.app.workers["worker"].stop_timeout == 90
    assert prod.app.workers["scheduler"].stop_signal == "SIGTERM" and prod.app.workers["scheduler"].stop_timeout == 30
    assert prod.worker_hosts("worker") == ["app1", "app2"]
    assert prod.worker_hosts("scheduler") == ["app1"]
    assert prod.worker_hosts("mailer") == ["app2"]
