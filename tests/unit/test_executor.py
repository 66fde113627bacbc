"""Executor against fabric.testing's MockRemote: exact remote commands, one connection, failures, timeout."""

from pathlib import Path

import pytest
from fabric.testing.base import Command, MockRemote, Session

from ghosttasks import testing
from ghosttasks.domain.errors import CommandFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.terminal.output import Output

ROOT = Path(__file__).resolve().parents[2]
APP1_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAp6/DdvaSYPle28hf30OUZlHn0cbd7Yxv2c0Nl0p2oM"


@pytest.fixture
def env(tmp_path, monkeypatch):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"app1.internal.ghostworks.dev {APP1_KEY}\n")
    prod = testing.prod()
    ssh = prod.ssh.model_copy(update={"known_hosts": str(known_hosts), "jump_host": None})
    return prod.model_copy(update={"ssh": ssh})


@pytest.fixture
def remote():
    """MockRemote with our own checks: each expected session is exactly one SSH connection to its host."""
    mock = MockRemote()
    yield mock
    for expected in mock.sessions:
        expected.client.connect.assert_called_once()
        kwargs = expected.client.connect.call_args.kwargs
        assert (kwargs["hostname"], kwargs["port"], kwargs["username"]) == (expected.host, 22, "deploy")
        assert kwargs["key_filename"] == ["/root/.ssh/ghostworks_deploy".replace("/root", str(Path.home()))]
        assert kwargs["look_for_keys"] is False and kwargs["allow_agent"] is False
        for channel, command in zip(expected.channels, expected.commands, strict=False):
            command.expect_execution(channel=channel)
    mock.stop()


def host(env, name):
    return next(h for h in env.hosts if h.name == name)


def session(env, name, *commands):
    target = host(env, name)
    return Session(host=target.address, port=22, user="deploy", commands=list(commands))


def test_one_connection_per_host_reused_for_every_command(env, remote, capsys):
    remote.expect_sessions(session(env, "app1", Command("uname -n", out=b"app1\n"), Command("docker ps", out=b"")))
    remote.start()
    executor = SSHExecutor(env, Output())
    assert executor.run(host(env, "app1"), "uname -n").stdout == "app1\n"
    assert executor.run(host(env, "app1"), "docker ps").ok
    executor.close()


def test_host_keys_are_rejected_unless_known(env, remote):
    remote.expect_sessions(session(env, "app1", Command("true")))
    remote.start()
    executor = SSHExecutor(env, Output())
    executor.run(host(env, "app1"), "true")
    client = executor.connections.get(host(env, "app1")).client
    name, key_type, key = client.get_host_keys.return_value.add.call_args.args
    assert (name, key_type, key.get_base64()) == ("app1.internal.ghostworks.dev", "ssh-ed25519", APP1_KEY.split()[1])
    policy = client.set_missing_host_key_policy.call_args.args[0]
    assert type(policy).__name__ == "RejectPolicy"
    executor.close()


def test_parallel_failures_are_aggregated_with_host_and_output(env, remote):
    remote.expect_sessions(
        session(env, "app1", Command("docker compose build", out=b"built\n")),
        session(env, "app2", Command("docker compose build", err=b"no space left on device\n", exit=1)),
    )
    remote.start()
    executor = SSHExecutor(env, Output())
    for name in ("app1", "app2"):
        executor.connections.get(host(env, name))  # connect in a known order for the mock
    with pytest.raises(CommandFailed) as caught:
        executor.run_parallel(env.app_hosts, "docker compose build", what="build")
    assert str(caught.value) == ("build failed on 1 of 2 hosts (app2): [app2] exit 1: no space left on device")
    assert [result.ok for result in caught.value.results] == [True, False]
    executor.close()


def test_timeout_gives_exit_124_not_a_hang():
    dev = testing.env("dev")
    executor = SSHExecutor(dev, Output())
    result = executor.run(dev.hosts[0], "sleep 30", timeout=0.5, check=False)
    assert result.timed_out and result.exit_code == 124 and result.duration == 0.5
    with pytest.raises(CommandFailed, match=r"sleep failed: \[local\] timed out after 0.2 s"):
        executor.run(dev.hosts[0], "sleep 30", timeout=0.2, what="sleep")


def test_local_hosts_run_through_the_same_interface_with_their_env():
    dev = testing.env("dev")
    local = dev.hosts[0].model_copy(update={"env": {"DOCKER_HOST": "unix:///lab/app1.sock"}})
    result = SSHExecutor(dev, Output()).run(local, "echo $DOCKER_HOST; exit 3", check=False)
    assert (result.stdout, result.exit_code) == ("unix:///lab/app1.sock\n", 3)


def test_streamed_output_is_prefixed_and_masked(env, remote, capsys):
    remote.expect_sessions(session(env, "app1", Command("env", out=b"LOG_LEVEL=INFO\nPOSTGRES_PASSWORD=hunter22\n")))
    remote.start()
    executor = SSHExecutor(env, Output())
    executor.run(host(env, "app1"), "env", stream=True)
    out = capsys.readouterr().out
    assert "[app1] LOG_LEVEL=INFO" in out and "[app1] POSTGRES_PASSWORD=********" in out
    assert "hunter22" not in out
    executor.close()


def test_plan_recorder_opens_nothing_and_records_in_order(env):
    recorder = PlanRecorder(env, Output(silent=True))
    recorder.section("build")
    recorder.run_parallel(env.app_hosts, lambda h: f"echo {h.name}")
    recorder.put(host(env, "lb1"), "a\nDATABASE_URL=postgresql://u:pw@h/db\n", "/etc/x.conf")
    assert recorder.text() == (
        "== build\n[app1] $ echo app1\n[app2] $ echo app2\n[lb1] upload /etc/x.conf (mode 0644):\n"
        "    | a\n    | DATABASE_URL=postgresql://u:********@h/db\n"
    )


def test_stdin_reaches_the_command_then_eof_and_is_not_echoed(capsys):
    dev = testing.env("dev")
    executor = SSHExecutor(dev, Output())
    result = executor.run(dev.hosts[0], "wc -c; cat >/dev/null; echo done", stdin="s3cret-on-stdin\n", stream=True)
    assert result.stdout.split() == ["16", "done"]  # all of it arrived, then EOF (cat returned)
    assert "s3cret-on-stdin" not in capsys.readouterr().out


def test_plan_recorder_says_a_secret_goes_on_stdin_without_it(env):
    recorder = PlanRecorder(env, Output(silent=True))
    recorder.run(host(env, "app1"), "docker login --password-stdin r:5000", stdin="pw-value")
    assert recorder.text() == "[app1] $ docker login --password-stdin r:5000 (a secret on stdin)\n"
