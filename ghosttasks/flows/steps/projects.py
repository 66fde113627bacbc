"""Compose projects (per colour, shared, single) and the api container that commands run in."""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.commands import compose
from ghosttasks.config.inventory import Host
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run
from ghosttasks.records.state_store import Store


def color_project(run: Run, app_host: Host, color: Color, version: str | None = None) -> compose.Project:
    """The per-colour project (api, web) of one app host, run from that version's release dir.

    Without a version (ps, logs), the project is addressed from the app dir: compose needs only its name.
    """
    env = run.env
    files = (*env.app.compose_files, env.app.color_compose_files[color])
    directory = env.release_dir(app_host, version) if version else env.app_dir(app_host)
    return compose.Project(directory, f"{env.app.project}-{color}", files, version, env.app.version_variable)


def shared_project(run: Run) -> compose.Project:
    """The shared, stateful services (postgres, redis) on the db host."""
    env = run.env
    return compose.Project(env.app_dir(env.db_host), env.app.project, tuple(env.app.compose_files))


def single_project(run: Run, app_host: Host, version: str | None = None) -> compose.Project:
    """dev and staging: one project with every service, from the app dir."""
    env = run.env
    files = tuple(env.app.compose_files)
    return compose.Project(env.app_dir(app_host), env.app.project, files, version, env.app.version_variable)


@dataclass(frozen=True)
class ApiTarget:
    """Where to run alembic and app-level checks: one app host's api container."""

    host: Host
    project: compose.Project
    color: Color | None


def color_api(run: Run, color: Color, version: str) -> ApiTarget:
    """The api container of `color` (running `version`) on the first app host."""
    first = run.env.app_hosts[0]
    return ApiTarget(first, color_project(run, first, color, version), color)


def serving_state(run: Run) -> DeployState | None:
    """The recorded deploy state; None for single-strategy environments, which have no colours."""
    return Store(run).load() if run.env.app.strategy == "blue-green" else None


def serving_api(run: Run) -> ApiTarget:
    """The api container that serves now (read from the recorded state where there are colours)."""
    return active_api(run, serving_state(run))


def active_api(run: Run, state: DeployState | None) -> ApiTarget:
    """The serving api: the active colour's on the first app host (blue-green), else the env's project."""
    first = run.env.app_hosts[0]
    if run.env.app.strategy != "blue-green":
        return ApiTarget(first, single_project(run, first), None)
    version = state.colors[state.active].version if state and state.active else None
    if state is None or state.active is None or version is None:
        raise OperationFailed(
            f"no colour is active in {run.env.name} yet: nothing to run this against",
            hint=f"deploy first: inv deploy.prod --env {run.env.name} --version vX.Y.Z",
        )
    return color_api(run, state.active, version)
