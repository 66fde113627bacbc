"""Before anything changes: the login user may do what the run needs on each host.

On the LB with `lb.sudo`: `sudo -n` answers without a password and allows every command a switch runs.
On app and db hosts (and a managed database's client host): the Docker socket is usable without sudo (the docker
group). One check per host,
all hosts at once; every problem is one line naming the host and the fix (ghosttasks.decisions.access_verdicts).
"""

from __future__ import annotations

from ghosttasks.commands import host as host_commands
from ghosttasks.commands import sudo, sudoers
from ghosttasks.commands.facts import Fact, Unread
from ghosttasks.config.inventory import Host
from ghosttasks.decisions import access_verdicts
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run


def _checks(run: Run, target: Host, *, docker: bool) -> list[str]:
    env = run.env
    checks = []
    if env.lb is not None and env.lb.sudo and "lb" in target.roles and not target.local:
        checks.append("sudo")
    client = env.database.managed and target.name == env.database_client_host.name  # runs the one-off client
    if docker and ("app" in target.roles or "db" in target.roles or client):
        checks.append("docker")
    return checks


def check_access(run: Run, hosts: list[Host], *, docker: bool = True) -> None:
    """sudo -n on the LB (lb.sudo) and Docker on app and db hosts (unless docker=False), in parallel.

    Runs nothing when no host needs a check. Raises OperationFailed naming every problem.
    """
    facts = access_facts(run, hosts, docker=docker)
    targets = [target for target in hosts if target.name in facts]
    if not targets:
        return
    answers = run.executor.read_parallel(targets, lambda target: facts[target.name])
    judge_access(run, targets, answers, docker=docker)


def access_facts(run: Run, hosts: list[Host], *, docker: bool = True) -> dict[str, Fact[str | Unread]]:
    """The access check of each host that needs one (by name), to read alone or with the host's other reads."""
    env = run.env
    wanted = {target.name: _checks(run, target, docker=docker) for target in hosts}
    parts = {"sudo": lambda: sudo.check(sudoers.root_commands(env)), "docker": host_commands.docker_access}
    return {
        target.name: host_commands.access("; ".join(parts[check]() for check in wanted[target.name]))
        for target in hosts
        if wanted[target.name]
    }


def judge_access(run: Run, targets: list[Host], answers: list[str | Unread], *, docker: bool = True) -> None:
    """The verdicts on the access checks of `targets` (their answers in order): OperationFailed naming every
    problem, else one line saying what was checked."""
    env = run.env
    wanted = {target.name: _checks(run, target, docker=docker) for target in targets}
    root_commands = sudoers.root_commands(env)
    problems: list[str] = []
    hints: list[str] = []
    for target, answer in zip(targets, answers, strict=True):
        if isinstance(answer, Unread):
            problems.append(answer.reason)
            if answer.hint:
                hints.append(answer.hint)
            continue
        for check in wanted[target.name]:
            if check == "sudo":
                problem = access_verdicts.sudo_problem(target.name, env.name, answer)
            else:
                problem = access_verdicts.docker_problem(target.name, answer)
            if problem:
                problems.append(problem)
    if problems:
        raise OperationFailed("; ".join(problems), hint="; ".join(dict.fromkeys(hints)) or None)
    said = []
    sudo_hosts = [t.name for t in targets if "sudo" in wanted[t.name]]
    docker_hosts = [t.name for t in targets if "docker" in wanted[t.name]]
    if sudo_hosts:
        said.append(f"sudo -n allows all {len(root_commands)} LB commands on {', '.join(sudo_hosts)}")
    if docker_hosts:
        said.append(f"Docker usable without sudo on {', '.join(docker_hosts)}")
    run.out.ok("; ".join(said))
