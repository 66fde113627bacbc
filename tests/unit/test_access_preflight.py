"""The access preflight in the flows that change the LB: sudo -n on the LB and Docker on app and db hosts
are checked before anything changes, and a problem is one line naming the host and the fix."""

import pytest

from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.flows.emergency import emergency_rollback
from ghosttasks.flows.rollback import rollback
from ghosttasks.flows.steps.access_check import check_access
from ghosttasks.flows.switch import switch
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod

NEEDS_PASSWORD = "sudo failed deploy\nsudo: a password is required\n"
DENIED = (
    "docker failed deploy /var/run/docker.sock docker\npermission denied while trying to connect to the Docker "
    "daemon socket at unix:///var/run/docker.sock: Get ...: connect: permission denied\n"
)
SUDO_LINE = (
    "lb1: sudo -n needs a password for deploy: add /etc/sudoers.d/ghosttasks "
    "(python3 -m ghosttasks.commands.sudoers --env prod prints it; see README, 'sudo on the LB')"
)
DOCKER_LINE = (
    "app2: deploy cannot use /var/run/docker.sock: add it to the docker group "
    "(sudo usermod -aG docker deploy) and log in again"
)


def access_check(command):
    return "sudo -n /usr/bin/true" in command or "docker version --format" in command


def checked(answers, task="traffic.switch"):
    """A plan whose access checks answer as scripted per host (everything else as assumed)."""
    executor = ScriptedExecutor(prod(), dry_run=True, unscripted="assume")
    for host, stdout in answers.items():
        executor.on(access_check, stdout, host=host)
    return a_run(executor, task=task)


def changed(run):
    """The plan lines that would change the LB: an upload, an install, an nginx signal."""
    lines = [line for line in run.executor.entries if "sudo -n -l" not in line]  # not the check itself
    return [line for line in lines if "upload" in line or "install" in line or "-s reload" in line]


def test_a_sudo_that_needs_a_password_stops_a_switch_before_anything_changes():
    run = checked({"lb1": NEEDS_PASSWORD})
    with pytest.raises(OperationFailed) as refused:
        switch(run, "blue")
    assert str(refused.value) == f"step 'plan switch' failed: {SUDO_LINE}"
    assert refused.value.hint is None
    assert changed(run) == []
    history, release = run.executor.entries[-3:-1]  # recorded, then the lock released (then notified)
    assert history.endswith(">> /var/lib/ghosttasks/history.jsonl") and '"result": "failed"' in history
    assert release.endswith("then rm -rf /var/lib/ghosttasks/lock; fi")


def test_every_problem_of_every_host_is_in_the_one_line():
    run = checked({"lb1": NEEDS_PASSWORD, "app2": DENIED}, task="deploy.rollback")
    with pytest.raises(OperationFailed) as refused:
        rollback(run, to=None, db_rev=None)
    assert str(refused.value) == f"step 'plan rollback' failed: {SUDO_LINE}; {DOCKER_LINE}"
    assert "\n" not in str(refused.value) and changed(run) == []


def test_the_checks_run_on_every_host_at_once_one_command_each():
    run = checked({})
    check_access(run, run.env.hosts)
    lines = [line for line in run.executor.entries if "sudo -n /usr/bin/true" in line or "docker version" in line]
    assert [line.split("]")[0] for line in lines] == ["[lb1", "[app1", "[app2", "[db1"]
    assert "docker version" not in lines[0] and "sudo" not in lines[1]
    assert run.out.printed.count("\n") == 1


def test_without_lb_sudo_the_lb_is_not_checked():
    env = prod().model_copy(update={"lb": prod().lb.model_copy(update={"sudo": False})})
    recorder = PlanRecorder(env, Output(silent=True))
    check_access(a_run(recorder, task="traffic.switch", out=Output(silent=True)), [env.lb_host], docker=False)
    assert recorder.entries == []


def test_the_emergency_rollback_checks_only_sudo_on_the_lb_and_stops_before_switching():
    run = checked({"lb1": NEEDS_PASSWORD, "app1": DENIED}, task="deploy.emergency-rollback")
    with pytest.raises(OperationFailed) as refused:
        emergency_rollback(run, reason="p95 over 5 s")
    assert str(refused.value) == f"step 'switch to the previous colour' failed: {SUDO_LINE}"
    checks = [line for line in run.executor.entries if "sudo -n /usr/bin/true" in line or "docker version" in line]
    assert len(checks) == 1 and checks[0].startswith("[lb1] $ ")
    assert changed(run) == []
