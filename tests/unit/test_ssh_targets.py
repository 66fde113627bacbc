"""Where SSH connections go: jump host parsing, ssh_config precedence, host-key hints through the bastion."""

import re
from pathlib import Path

import paramiko
import pytest

from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import Destination, SSHSettings, parse_destination
from ghosttasks.config.ssh_targets import (
    Endpoint,
    changed_key_hint,
    keyscan,
    resolve,
    trust_hint,
)
from ghosttasks.domain.errors import ConfigError
from ghosttasks.testing import SHIPPED_INVENTORY, prod

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bastion.ghostworks.dev", Destination("bastion.ghostworks.dev")),
        ("ops@bastion.ghostworks.dev", Destination("bastion.ghostworks.dev", "ops")),
        ("bastion:2222", Destination("bastion", None, 2222)),
        ("ops@10.0.0.1:2200", Destination("10.0.0.1", "ops", 2200)),
        ("jump@[2001:db8::1]:22", Destination("2001:db8::1", "jump", 22)),
        (" deploy@bastion ", Destination("bastion", "deploy")),
    ],
)
def test_jump_hosts_are_user_host_port(text, expected):
    assert parse_destination(text) == expected


@pytest.mark.parametrize("text", ["", "ops@", "bastion:0", "bastion:70000", "a b", "-oProxyCommand=x", "u@-h", "h:x"])
def test_bad_jump_hosts_are_refused(text):
    with pytest.raises(ValueError, match=r"is not \[user@\]host\[:port\]"):
        parse_destination(text)


def test_a_bad_jump_host_fails_the_inventory(tmp_path):
    text = re.sub(r"jump_host: \S+", "jump_host: b:99999", SHIPPED_INVENTORY.read_text(), count=1)
    (tmp_path / "hosts.yml").write_text(text)
    with pytest.raises(ConfigError, match=r"environments.staging.ssh.jump_host: 'b:99999' is not \[user@\]host"):
        load_inventory(tmp_path / "hosts.yml")


def host(env, name):
    return next(h for h in env.hosts if h.name == name)


def test_the_shipped_prod_goes_through_its_bastion_as_deploy():
    env = prod()
    route = resolve(host(env, "lb1"), env.ssh)
    assert route.target == Endpoint("lb1.internal.ghostworks.dev", 22, "deploy", ("~/.ssh/ghostworks_deploy",), True)
    assert route.jump == Endpoint("bastion.ghostworks.dev", 22, "deploy", ("~/.ssh/ghostworks_deploy",), True)
    assert route.proxy_command is None


def test_the_bastion_has_its_own_user_port_and_key():
    env = prod()
    ssh = env.ssh.model_copy(update={"jump_host": "jump@bastion:2200", "jump_key_file": "~/.ssh/bastion"})
    route = resolve(host(env, "app1"), ssh)
    assert route.jump == Endpoint("bastion", 2200, "jump", ("~/.ssh/bastion",), True)
    assert route.target.user == "deploy" and route.target.key_files == ("~/.ssh/ghostworks_deploy",)
    plain = resolve(host(env, "app1"), env.ssh.model_copy(update={"jump_host": "bastion"}))
    assert plain.jump == Endpoint("bastion", 22, "deploy", ("~/.ssh/ghostworks_deploy",), True)


SSH_CONFIG = """
Host lb1.internal.ghostworks.dev
    HostName 10.1.0.10
    User alice
    Port 2222
    IdentityFile ~/.ssh/alice
    ProxyJump hop@gate.ghostworks.dev:2022
Host gate.ghostworks.dev
    HostName gate.example.net
    User gatekeeper
    Port 2023
    IdentityFile ~/.ssh/gate
Host *.internal.ghostworks.dev
    User bob
    ProxyCommand ssh -W %h:%p legacy-gate
"""


def lookup(text=SSH_CONFIG):
    return paramiko.SSHConfig.from_text(text).lookup


def bare(**values):
    """ssh settings as if only `values` were written in hosts.yml."""
    return SSHSettings(**values)


def test_ssh_config_fills_in_what_hosts_yml_leaves_unset():
    env = prod()
    route = resolve(host(env, "lb1"), bare(), lookup())
    home = str(Path.home())
    assert route.target == Endpoint("10.1.0.10", 2222, "alice", (f"{home}/.ssh/alice",), False)
    # the ProxyJump hop: its written user and port win, ssh_config's HostName and IdentityFile fill in
    assert route.jump == Endpoint("gate.example.net", 2022, "hop", (f"{home}/.ssh/gate",), False)


def test_hosts_yml_wins_over_ssh_config():
    env = prod()
    lb1 = host(env, "lb1")
    written = bare(user="deploy", port=22, key_file="~/.ssh/ghostworks_deploy", jump_host="ops@bastion:2200")
    route = resolve(lb1, written, lookup())
    assert route.target == Endpoint("10.1.0.10", 22, "deploy", ("~/.ssh/ghostworks_deploy",), True)
    assert route.jump == Endpoint("bastion", 2200, "ops", ("~/.ssh/ghostworks_deploy",), True)
    # a host's own user and port beat both
    route = resolve(lb1.model_copy(update={"user": "carol", "port": 2201}), written, lookup())
    assert (route.target.user, route.target.port) == ("carol", 2201)


def test_the_default_port_is_not_written_so_ssh_config_port_applies():
    assert not bare().explicit("port") and bare(port=22).explicit("port")
    route = resolve(host(prod(), "lb1"), bare(user="deploy"), lookup())
    assert (route.target.user, route.target.port) == ("deploy", 2222)


def test_patterns_and_proxy_command_apply_to_other_hosts():
    route = resolve(host(prod(), "app1"), bare(), lookup())
    assert route.target == Endpoint("app1.internal.ghostworks.dev", 22, "bob", (), False)
    assert route.jump is None and route.proxy_command == "ssh -W app1.internal.ghostworks.dev:22 legacy-gate"


def test_the_bastion_user_falls_back_to_ssh_user_then_ssh_config_wins_over_it():
    route = resolve(host(prod(), "lb1"), bare(user="deploy"), lookup(SSH_CONFIG.replace("hop@", "")))
    assert route.jump.user == "gatekeeper" and route.jump.port == 2022
    route = resolve(host(prod(), "db1"), bare(user="deploy", jump_host="nowhere"), lookup())
    assert route.jump == Endpoint("nowhere", 22, "deploy", (), False)


def test_several_proxy_jump_hops_are_refused():
    config = "Host db1.internal.ghostworks.dev\n    ProxyJump a,b\n"
    with pytest.raises(ConfigError, match=r"ProxyJump a,b for db1\.internal\.ghostworks\.dev has several hops"):
        resolve(host(prod(), "db1"), bare(), lookup(config))


def test_proxy_jump_none_means_direct():
    config = "Host db1.internal.ghostworks.dev\n    ProxyJump none\n"
    assert resolve(host(prod(), "db1"), bare(), lookup(config)).jump is None


def test_host_key_hints_go_through_the_bastion():
    target = Endpoint("lb1.internal.ghostworks.dev", 22, "deploy")
    bastion = Endpoint("bastion.ghostworks.dev", 2200, "jump", ("~/.ssh/bastion",), True)
    assert keyscan(target, "~/.ssh/known_hosts", via=bastion) == (
        "ssh -p 2200 -i ~/.ssh/bastion jump@bastion.ghostworks.dev ssh-keyscan -p 22 lb1.internal.ghostworks.dev "
        ">> ~/.ssh/known_hosts"
    )
    assert trust_hint(Endpoint("lb1", 2222), "/lab/known_hosts", via=Endpoint("b", 22)) == (
        "to trust it: ssh -p 22 -o UserKnownHostsFile=/lab/known_hosts b ssh-keyscan -p 2222 lb1 >> /lab/known_hosts "
        "(after checking the fingerprint)"
    )
    assert trust_hint(Endpoint("127.0.0.10", 2222), "/lab/known_hosts") == (
        "to trust it: ssh-keyscan -p 2222 127.0.0.10 >> /lab/known_hosts (after checking the fingerprint)"
    )
    assert changed_key_hint(target, "~/.ssh/known_hosts", via=Endpoint("b", 22, "jump")) == (
        "if the host was rebuilt, remove its old key (ssh-keygen -R lb1.internal.ghostworks.dev -f ~/.ssh/known_hosts)"
        " and run ssh -p 22 jump@b ssh-keyscan -p 22 lb1.internal.ghostworks.dev >> ~/.ssh/known_hosts "
        "(after checking the fingerprint)"
    )
    assert changed_key_hint(Endpoint("10.0.0.5", 2222), "kh").startswith(
        "if the host was rebuilt, remove its old key (ssh-keygen -R '[10.0.0.5]:2222' -f kh)"
    )
