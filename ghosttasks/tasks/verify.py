"""verify.*: the runbook's post-deployment verification, one task per check, and `all`."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import ENV_HELP, execute, ghost_task

COLOR_HELP = "blue or green (default: the active colour)"


def _color(color):
    return validate.color(color) if color is not None else None


@ghost_task(help={"color": COLOR_HELP, "env": ENV_HELP})
def health(c, color=None, env=None):
    """API and web health on every app host, and the public URL."""
    from ghosttasks.flows import checks as flow

    color = _color(color)
    execute(c, env, lambda run: flow.health(run, color))


@ghost_task(help={"env": ENV_HELP})
def db(c, env=None):
    """Database connectivity: psql SELECT 1 through the postgres service (or checks.database_command)."""
    from ghosttasks.flows import checks as flow

    execute(c, env, lambda run: flow.database(run))


@ghost_task(help={"env": ENV_HELP})
def redis(c, env=None):
    """Redis connectivity: redis-cli ping through the redis service (or checks.redis_command)."""
    from ghosttasks.flows import checks as flow

    execute(c, env, lambda run: flow.redis(run))


@ghost_task(
    help={
        "window": "seconds between the two looks at the restart counts (default: checks.workers_window_seconds; "
        "0: one look)",
        "env": ENV_HELP,
    }
)
def workers(c, window=None, env=None):
    """Exactly the serving colour's workers run (one scheduler), none restarts in a loop; the queue depth."""
    from ghosttasks.flows import checks as flow

    seconds = validate.positive_number(window, "--window", allow_zero=True) if window is not None else None
    execute(c, env, lambda run: flow.workers(run, seconds))


@ghost_task(help={"color": COLOR_HELP, "env": ENV_HELP})
def smoke(c, color=None, env=None):
    """Smoke tests: the built-in suite (auth flow, artifact CRUD, tenant isolation, latency) and smoke.scripts."""
    from ghosttasks.flows import checks as flow

    color = _color(color)
    execute(c, env, lambda run: flow.smoke_color(run, color))


@ghost_task(help={"env": ENV_HELP})
def traffic(c, env=None):
    """Every answer through the LB comes from the active colour and version."""
    from ghosttasks.flows import checks as flow

    execute(c, env, lambda run: flow.traffic(run, None))


@ghost_task(help={"env": ENV_HELP})
def images(c, env=None):
    """Every app host's containers run the image digests the deploy state records (build once)."""
    from ghosttasks.flows.steps.build_once import verify_images

    execute(c, env, verify_images)


@ghost_task(help={"env": ENV_HELP})
def config(c, env=None):
    """Required environment variables present on every app host (names only) and compose config valid."""
    from ghosttasks.flows import checks as flow

    execute(c, env, flow.config)


@ghost_task(help={"env": ENV_HELP})
def monitoring(c, env=None):
    """Prometheus scrapes the active colour and evaluates the rollback rules; a test alert reaches every receiver."""
    from ghosttasks.flows import checks as flow

    execute(c, env, flow.monitoring)


@ghost_task(
    help={
        "color": "blue or green (default: the active colour; another one is asked directly)",
        "slow": "instead: the slowest requests per endpoint of at least this many seconds, with their request IDs",
        "since": "with --slow: only log lines since this time (docker's --since: 10m, 2026-12-07T10:00:00)",
        "json": "with --slow: print JSON instead of a table",
        "env": ENV_HELP,
    }
)
def logs(c, color=None, slow=None, since=None, json=False, env=None):
    """Log analysis: correlation IDs found on the hosts that served them, ERROR/CRITICAL patterns since the deploy.

    With --slow SECONDS: the slowest requests per endpoint pattern in the api logs, read as `logs:` describes
    them (JSON keys, or a text pattern's named groups), with their correlation IDs.
    """
    color = _color(color)
    if slow is not None:
        from ghosttasks.flows import performance

        seconds = validate.positive_number(slow, "--slow")
        window = validate.since(since, "--since") if since else None
        execute(c, env, lambda run: performance.slow_requests_in_logs(run, color, seconds, window, json), quiet=json)
        return
    from ghosttasks.flows.steps import logs as flow

    execute(c, env, lambda run: flow.check_logs(run, color))


@ghost_task(
    help={
        "minutes": "how long to watch (default: thresholds.monitor_minutes)",
        "rollback": "switch back to the previous colour automatically on a trigger",
        "env": ENV_HELP,
    }
)
def monitor(c, minutes=None, rollback=False, env=None):
    """Watch error rate, p95, health and the database; report (or roll back on) the runbook's triggers."""
    from ghosttasks.flows.steps import monitor as flow

    chosen = None if minutes is None else validate.positive_number(minutes, "--minutes")
    execute(c, env, lambda run: flow.watch_serving(run, minutes=chosen, rollback=rollback))


@ghost_task(name="all", help={"env": ENV_HELP})
def all_checks(c, env=None):
    """health, db, redis, smoke, traffic, images, config, logs and monitoring; stops at the first failure."""
    from ghosttasks.flows import checks as flow

    execute(c, env, flow.all_checks)


namespace = Collection(
    "verify", health, db, redis, workers, smoke, traffic, images, config, logs, monitoring, monitor, all_checks
)
