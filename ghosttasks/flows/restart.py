"""stack.restart SERVICE: restart a service without dropping requests, under the deploy lock, in the history.

- A per-colour service of the serving colour: the same version is started fresh in the idle colour, health
  checked and smoke tested there, traffic is switched to it (the deploy's own steps), and only then the old
  colour's per-colour services are restarted; they stay idle with the same version (the idle colour's
  previous version is replaced: the rollback target is now this version in the other colour).
- A per-colour service of the idle colour (or `--color` naming it): a plain restart, then a health wait.
- A shared service (the database, Redis): everything that uses it is interrupted; refused unless `--yes` on a
  terminal (the caller checks), then a plain restart and a wait until it is healthy again.
"""

from __future__ import annotations

import shlex

from ghosttasks.commands import compose
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import BadInput, OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import build_once
from ghosttasks.flows.steps.guard import guarded
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.migrate import record_revision
from ghosttasks.flows.steps.projects import color_project, shared_project
from ghosttasks.flows.steps.reality import begin, reconciled_state, settle
from ghosttasks.flows.steps.release import fetch_release, start_color
from ghosttasks.flows.steps.smoke import smoke
from ghosttasks.flows.steps.switching import switch_traffic, verify_or_switch_back
from ghosttasks.flows.steps.workers import hand_over
from ghosttasks.records.state_store import Store

HEALTH_DEADLINE = 120.0


def kind(run: Run, service: str) -> str:
    """`color` or `shared`; an unknown service is bad input naming the known ones."""
    app = run.env.app
    if service in app.color_services:
        return "color"
    if service in app.shared_services:
        return "shared"
    raise BadInput(f"service {service!r} is not one of {', '.join([*app.color_services, *app.shared_services])}")


def interrupts(run: Run, service: str) -> str:
    """What restarting a shared service interrupts (for the refusal and the confirmation)."""
    return (
        f"restarting the shared service {service} on {run.env.db_host.name} interrupts every colour's "
        f"{', '.join(run.env.app.color_services)} that use it (their requests fail until it is back)"
    )


def restart(run: Run, service: str, color: Color | None) -> DeployState | None:
    """Restart `service` the least disruptive way (see the module's docstring)."""
    if run.env.app.strategy != "blue-green":
        raise OperationFailed(f"stack.restart restarts without downtime by colour: {run.env.name} runs one stack")
    what = kind(run, service)
    store = Store(run)
    with guarded(run, store, version=None, reason=f"restart {service}") as entry:
        with run.step("preflight"):
            state = reconciled_state(run, store, entry)
            serving = state.active
        if what == "shared":
            _restart_shared(run, service)
            return state
        target = color or serving or "blue"
        version = state.colors[target].runs
        entry.color, entry.version = target, version
        if target != serving:
            with run.step(f"restart {service} in {target}"):
                run.executor.run_parallel(
                    run.env.app_hosts,
                    lambda host: compose.restart(color_project(run, host, target, version), [service]),
                    what=f"restart {service} ({target})",
                )
            if version:
                with run.step(f"health check {target}"):
                    wait_for_color(
                        run, target, version, deadline=HEALTH_DEADLINE, pinned=state.version_images.get(version)
                    )
            run.out.ok(f"{service} restarted in the idle colour {target}")
            return state
        if not version:
            raise OperationFailed(f"{serving} serves no known-good version: nothing to start in the other colour")
        return _restart_serving(run, store, state, entry, serving, version)


def _restart_serving(run: Run, store: Store, state: DeployState, entry, serving: Color, version: str) -> DeployState:
    idle = state.idle
    head = state.colors[serving].alembic_head
    entry.previous_color, entry.previous_version, entry.color = serving, version, idle
    run.note(
        f"{version} starts fresh in {idle} (replacing {state.colors[idle].runs or 'nothing'}), takes the traffic, "
        f"then {serving} restarts and stays idle"
    )
    try:
        with run.step(f"start {version} in {idle}"):
            fetch_release(run, version)
            state.record_images(version, build_once.ensure_pinned(run, state, version, idle))
            begin(run, store, state, idle, version)
            start_color(run, idle, version)
        with run.step(f"health check {idle}"):
            wait_for_color(run, idle, version, deadline=HEALTH_DEADLINE, pinned=state.version_images.get(version))
        with run.step(f"smoke test {idle}"):
            smoke(run, idle, version, requests=10)
        with run.step("switch traffic"):
            switch_traffic(run, idle, version)
        with run.step("verify traffic"):
            verify_or_switch_back(run, idle, version, serving, version)
    except BaseException:
        settle(run, store, entry)
        raise
    state.after_deploy(idle, version, head, run.now())
    record_revision(run, store, state)
    hand_over(run, state, "traffic.switch", idle, version)  # the workers follow the traffic (not restarted below)
    with run.step(f"restart {serving}"):
        run.executor.run_parallel(
            run.env.app_hosts,
            lambda host: compose.restart(color_project(run, host, serving, version), run.env.app.colour_up_services),
            what=f"restart {serving}",
        )
    with run.step(f"health check {serving}"):
        wait_for_color(run, serving, version, deadline=HEALTH_DEADLINE, pinned=state.version_images.get(version))
    run.out.ok(f"{version} serves from {idle} on fresh containers; {serving} restarted and idle with {version}")
    return state


def _restart_shared(run: Run, service: str) -> None:
    project = shared_project(run)
    if run.dry_run:
        run.note(f"{interrupts(run, service)}: refused unless --yes on a terminal")
    with run.step(f"restart {service}"):
        run.executor.run(run.env.db_host, compose.restart(project, [service], timeout=30), what=f"restart {service}")
    with run.step(f"wait for {service}"):
        run.executor.run(run.env.db_host, _wait_healthy(project, service), what=f"wait until {service} is healthy")
    run.out.ok(f"{service} restarted and healthy on {run.env.db_host.name}")


def _wait_healthy(project: compose.Project, service: str, seconds: int = 90) -> str:
    """Poll the container's health (or running state when it has no healthcheck) until healthy, at most `seconds`."""
    ps = f"{project.prefix()} ps -q {shlex.quote(service)}"
    fmt = "'{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'"
    return (
        f"for i in $(seq {int(seconds)}); do s=$(docker inspect --format {fmt} $({ps})); "
        f'case "$s" in healthy|running) echo "$s"; exit 0;; esac; sleep 1; done; echo "not healthy: $s"; exit 1'
    )
