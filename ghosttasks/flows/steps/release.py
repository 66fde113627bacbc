"""Getting a version onto the app hosts: fetch its tag into a release dir, start a colour (images: build_once)."""

from __future__ import annotations

from ghosttasks.commands import compose, git
from ghosttasks.domain.colors import Color
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import color_project


def fetch_release(run: Run, version: str) -> None:
    """Fetch tags and check the version out into its release dir on every app host (parallel)."""
    env = run.env
    run.executor.run_parallel(
        env.app_hosts,
        lambda target: (
            f"{git.fetch_tags(env.app_dir(target))} && "
            + git.checkout_release(env.app_dir(target), env.release_dir(target, version), version, env.app.env_file)
        ),
        what=f"fetch and check out {version}",
    )


def start_color(run: Run, color: Color, version: str) -> None:
    """Fresh per-colour containers of `version` on every app host (parallel); shared services untouched.

    Workers (app.workers) are not started here: they follow the traffic (ghosttasks.flows.steps.workers)."""
    env = run.env
    run.executor.run_parallel(
        env.app_hosts,
        lambda target: compose.up(
            color_project(run, target, color, version), env.app.colour_up_services, recreate=True
        ),
        what=f"start {color}",
        stream=True,
    )
