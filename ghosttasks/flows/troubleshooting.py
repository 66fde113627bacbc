"""Troubleshooting helpers from the runbook: ps, logs, stats, config, pg_isready."""

from __future__ import annotations

from ghosttasks.commands import compose, postgres
from ghosttasks.commands.facts import Unread
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.workers import where_they_run
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.errors import BadInput
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.database_access import database_access
from ghosttasks.flows.steps.projects import color_project, shared_project, single_project
from ghosttasks.flows.steps.workers import sightings


def _projects(run: Run, service: str | None = None, color: Color | None = None) -> list[tuple[Host, compose.Project]]:
    """The (host, project) pairs that run `service` (every project when no service is named)."""
    env = run.env
    if env.app.strategy != "blue-green":
        return [(target, single_project(run, target)) for target in env.app_hosts]
    pairs: list[tuple[Host, compose.Project]] = []
    if service is None or service in env.app.color_services:
        for target in env.app_hosts:
            pairs += [(target, color_project(run, target, each)) for each in ([color] if color else COLORS)]
    if service is None or service in env.app.shared_services:
        pairs.append((env.db_host, shared_project(run)))
    if not pairs:
        known = ", ".join([*env.app.color_services, *env.app.shared_services])
        raise BadInput(f"service {service!r} is not one of {known}")
    return pairs


def _show(run: Run, target: Host, command: str) -> None:
    result = run.executor.run(target, command, check=False)
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        run.out.host_line(target.name, line)
    if not result.ok:
        run.out.fail(result.describe())


def ps(run: Run) -> None:
    """docker compose ps for every project; then which colour's workers run on each app host (read from docker)."""
    for target, project in _projects(run):
        run.out.step(f"{target.name}: {project.name}")
        _show(run, target, compose.ps(project))
    if run.env.app.workers and run.env.app.strategy == "blue-green":
        run.out.step("workers")
        for line in where_they_run([host.name for host in run.env.app_hosts], sightings(run)):
            run.out.info(line)


def logs(run: Run, service: str, *, color: Color | None, tail: int) -> None:
    """A service's logs from every host that runs it."""
    for target, project in _projects(run, service, color):
        run.out.step(f"{target.name}: {project.name} {service}")
        _show(run, target, compose.logs(project, service, tail))


def stats(run: Run) -> None:
    """docker stats on every host that runs a project."""
    targets = {target.name: target for target, _ in _projects(run)}
    for target in targets.values():
        run.out.step(f"{target.name}: docker stats")
        _show(run, target, compose.stats())


def config(run: Run) -> None:
    """The resolved compose configuration (masked) of every project."""
    for target, project in _projects(run):
        run.out.step(f"{target.name}: {project.name} config")
        _show(run, target, compose.config(project))


def pg_isready(run: Run) -> bool:
    """pg_isready where the database's client runs; True when it accepts connections."""
    access = database_access(run)
    answer = access.read(run, postgres.ready(access.client, user=run.env.database.user))
    ready = not isinstance(answer, Unread)
    line = answer if ready else answer.reason
    (run.out.ok if ready else run.out.fail)(f"{access.host.name}: {line}")
    return ready
