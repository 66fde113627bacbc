"""Which way each probe goes: probes.via x jump host x internal/public URL; the executor's clients; plan lines."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ghosttasks import testing
from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import ProbeSettings
from ghosttasks.decisions.probe_routes import route, way
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.terminal.output import Output

ROOT = Path(__file__).resolve().parents[2]
APP1_API = "http://app1.internal.ghostworks.dev:8001/api/v1/health"
PROMETHEUS = "http://prometheus.internal.ghostworks.dev:9090/api/v1/query"
LB = "https://api.ghostworks.dev/api/v1/health"
STAGING_PUBLIC = "https://staging-api.ghostworks.dev/api/v1/health"


def environment(name="prod", *, via="auto", jump="bastion.ghostworks.dev"):
    env = testing.env(name)
    ssh = env.ssh.model_copy(update={"jump_host": jump})
    return env.model_copy(update={"ssh": ssh, "probes": ProbeSettings(via=via)})


@pytest.mark.parametrize(
    ("via", "jump", "url", "expected"),
    [
        # auto: through SSH exactly when there is a jump host
        ("auto", "bastion.ghostworks.dev", APP1_API, "via SSH (bastion.ghostworks.dev)"),
        ("auto", "bastion.ghostworks.dev", PROMETHEUS, "via SSH (bastion.ghostworks.dev)"),
        ("auto", "bastion.ghostworks.dev", LB, "direct"),
        ("auto", None, APP1_API, "direct"),
        ("auto", None, PROMETHEUS, "direct"),
        ("auto", None, LB, "direct"),
        # ssh: internal always through SSH; without a jump host the host's own sshd opens the channel
        ("ssh", "bastion.ghostworks.dev", APP1_API, "via SSH (bastion.ghostworks.dev)"),
        ("ssh", "deploy@bastion.ghostworks.dev:2222", APP1_API, "via SSH (bastion.ghostworks.dev)"),
        ("ssh", "deploy@[2001:db8::1]:2222", APP1_API, "via SSH (2001:db8::1)"),
        ("ssh", "bastion.ghostworks.dev", LB, "direct"),
        ("ssh", None, APP1_API, "via SSH (app1)"),
        ("ssh", None, LB, "direct"),
        # direct: nothing through SSH
        ("direct", "bastion.ghostworks.dev", APP1_API, "direct"),
        ("direct", "bastion.ghostworks.dev", PROMETHEUS, "direct"),
        ("direct", None, APP1_API, "direct"),
        ("direct", "bastion.ghostworks.dev", LB, "direct"),
    ],
)
def test_the_way_of_each_probe(via, jump, url, expected):
    assert way(environment(via=via, jump=jump), url) == expected


def test_the_public_url_is_matched_by_origin_not_by_text():
    env = environment()
    assert way(env, "https://API.ghostworks.dev:443/other/path") == "direct"
    assert way(env, "http://api.ghostworks.dev/api/v1/health") != "direct"  # another origin: port 80


def test_the_public_health_url_of_an_environment_without_lb_goes_direct():
    env = environment("staging")
    assert way(env, STAGING_PUBLIC) == "direct"
    assert way(env, "http://staging1.internal.ghostworks.dev:8000/api/v1/health") == "via SSH (bastion.ghostworks.dev)"


def test_the_channel_rides_on_the_probed_hosts_connection_else_the_lb():
    env = environment()
    assert route(env, APP1_API).carrier.name == "app1"
    assert route(env, PROMETHEUS).carrier.name == "lb1"  # no host has Prometheus' address
    monitoring = env.model_copy(
        update={"hosts": [*env.hosts, env.hosts[0].model_copy(update={"name": "mon1", "roles": ["monitoring"]})]}
    )
    assert route(monitoring, PROMETHEUS).carrier.name == "mon1"


def test_a_local_host_is_probed_direct_even_with_probes_via_ssh():
    assert way(environment("dev", via="ssh", jump=None), "http://localhost:8000/api/v1/health") == "direct"


def test_without_a_jump_host_an_address_no_host_has_goes_through_the_lb_sshd():
    """Prometheus at an address no host has: the LB's sshd (inside the same network) opens the channel."""
    found = route(environment(via="ssh", jump=None), PROMETHEUS)
    assert (found.carrier.name, found.describe()) == ("lb1", "via SSH (lb1)")


def test_auto_goes_through_ssh_when_ssh_config_may_hold_a_proxyjump(tmp_path):
    inventory = yaml.safe_load(testing.SHIPPED_INVENTORY.read_text())
    prod = inventory["environments"]["prod"]
    prod["ssh"].pop("jump_host")
    prod["ssh"]["config_file"] = "~/.ssh/config"
    prod["probes"] = {"via": "auto"}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    env = load_inventory(path).env("prod")
    assert way(env, PROMETHEUS) == "via SSH (lb1)"
    assert way(env, env.lb_health_url) == "direct"


def test_the_executor_gives_internal_probes_one_client_through_ssh_and_public_ones_none():
    executor = SSHExecutor(environment(), Output(silent=True))
    client = executor.http_client(APP1_API)
    assert client is not None and executor.http_client(PROMETHEUS) is client  # one per run
    assert executor.http_client(LB) is None
    executor.close()
    assert client.is_closed
    assert SSHExecutor(environment(via="direct"), Output(silent=True)).http_client(APP1_API) is None
    assert PlanRecorder(environment(), Output(silent=True)).http_client(APP1_API) is None


class FakeTransport:
    def __init__(self):
        self.opened = []

    def open_channel(self, kind, dest, src, timeout):
        self.opened.append((kind, dest, src, timeout))
        return "channel"


@pytest.mark.parametrize("gateway", ["jump", None, "ProxyCommand ssh -W %h:%p bastion"])
def test_open_channel_is_opened_by_the_jump_host_when_there_is_one(monkeypatch, gateway):
    env = environment()
    executor = SSHExecutor(env, Output(silent=True))
    jump = SimpleNamespace(transport=FakeTransport())
    own = SimpleNamespace(transport=FakeTransport(), gateway=jump if gateway == "jump" else gateway)
    monkeypatch.setattr(executor.connections, "get", lambda host: own)
    app1 = env.app_hosts[0]
    assert executor.open_channel(app1, app1.address, 8001, timeout=4) == "channel"
    carrier, idle = (jump, own) if gateway == "jump" else (own, jump)
    assert carrier.transport.opened == [("direct-tcpip", (app1.address, 8001), ("127.0.0.1", 0), 4)]
    assert idle.transport.opened == []


def test_plan_lines_say_which_way(monkeypatch):
    for via, expected in (("auto", "via SSH (bastion.ghostworks.dev)"), ("direct", "direct")):
        env = environment(via=via)
        recorder = PlanRecorder(env, Output(silent=True))
        wait_for_color(testing.a_run(recorder, task="verify.health"), "blue", "v1.2.0", deadline=180)
        assert recorder.entries[0] == f"probe GET {APP1_API} {expected} until HTTP 200, status ok, version v1.2.0"
