"""verify.*: the runbook's post-deployment verification, one task per check, and `all`."""

from __future__ import annotations

from invoke import Collection

from ghosttasks import validate
from ghosttasks.tasks.common import ENV_HELP, execute, ghost_task

COLOR_HELP = "blue or green (default: the active colour)"


def _color(color):
    return validate.color(color) if color is not None else None


@ghost_task(help={"color": COLOR_HELP, "env": ENV_HELP})
def health(c, color=None, env=None):
    """API and web health on every app host, and the public URL."""
    from ghosttasks.flows import verify as flow

    color = _color(color)
    execute(c, "verify.health", env, lambda run: flow.health(run, color))


@ghost_task(help={"env": ENV_HELP})
def db(c, env=None):
    """Database connectivity from the api container (SELECT 1 with its own DATABASE_URL)."""
    from ghosttasks.flows import verify as flow

    execute(c, "verify.db", env, lambda run: flow.python_check(run, flow.DATABASE_CHECK, "Database"))


@ghost_task(help={"env": ENV_HELP})
def redis(c, env=None):
    """Redis connectivity from the api container (PING with its own REDIS_URL)."""
    from ghosttasks.flows import verify as flow

    execute(c, "verify.redis", env, lambda run: flow.python_check(run, flow.REDIS_CHECK, "Redis"))


@ghost_task(help={"color": COLOR_HELP, "env": ENV_HELP})
def smoke(c, color=None, env=None):
    """Smoke tests: auth flow, artifact CRUD, tenant isolation, latency benchmark."""
    from ghosttasks.flows import verify as flow
    from ghosttasks.state import Store

    color = _color(color)

    def body(run):
        chosen = color
        if run.env.app.strategy == "blue-green" and chosen is None:
            chosen = Store(run).load().active
        return flow.smoke(run, run.env.health_url(run.env.app_hosts[0], "api", chosen))

    execute(c, "verify.smoke", env, body)


@ghost_task(help={"env": ENV_HELP})
def traffic(c, env=None):
    """Every answer through the LB comes from the active colour and version."""
    from ghosttasks.flows import verify as flow

    execute(c, "verify.traffic", env, lambda run: flow.traffic(run, None))


@ghost_task(help={"env": ENV_HELP})
def config(c, env=None):
    """Required environment variables present on every app host (names only) and compose config valid."""
    from ghosttasks.flows import verify as flow

    execute(c, "verify.config", env, flow.config)


@ghost_task(help={"env": ENV_HELP})
def monitoring(c, env=None):
    """Prometheus scrapes the active colour and has the rollback rules loaded."""
    from ghosttasks.flows import verify as flow

    execute(c, "verify.monitoring", env, flow.monitoring)


@ghost_task(
    help={
        "minutes": "how long to watch (default: thresholds.monitor_minutes)",
        "rollback": "switch back to the previous colour automatically on a trigger",
        "env": ENV_HELP,
    }
)
def monitor(c, minutes=None, rollback=False, env=None):
    """Watch error rate, p95, health and the database; report (or roll back on) the runbook's triggers."""
    from ghosttasks.errors import OperationFailed
    from ghosttasks.flows import monitor as flow
    from ghosttasks.flows.guard import guarded
    from ghosttasks.state import Store

    chosen = None if minutes is None else validate.positive_number(minutes, "--minutes")

    def body(run):
        store = Store(run)
        duration = chosen if chosen is not None else run.env.thresholds.monitor_minutes
        with guarded(run, store, version=None, reason="monitor", lock=rollback) as entry:
            trigger = flow.watch(run, store, store.load(), minutes=duration, rollback=rollback)
            if trigger:
                entry["result"] = "rolled_back" if rollback else "triggered"
                raise OperationFailed(f"rollback trigger: {trigger.describe()}")

    execute(c, "verify.monitor", env, body)


@ghost_task(name="all", help={"env": ENV_HELP})
def all_checks(c, env=None):
    """health, db, redis, smoke, traffic, config and monitoring, in that order; stops at the first failure."""
    from ghosttasks.flows import common
    from ghosttasks.flows import verify as flow

    def body(run):
        state = common.serving_state(run)
        color = state.active if state else None
        with run.step("health"):
            flow.health(run, None)
        with run.step("database"):
            flow.python_check(run, flow.DATABASE_CHECK, "Database")
        with run.step("redis"):
            flow.python_check(run, flow.REDIS_CHECK, "Redis")
        with run.step("smoke tests"):
            flow.smoke(run, run.env.health_url(run.env.app_hosts[0], "api", color))
        if run.env.lb:
            with run.step("traffic"):
                flow.traffic(run, None)
        with run.step("config"):
            flow.config(run)
        if run.env.monitoring.prometheus_url:
            with run.step("monitoring"):
                flow.monitoring(run)

    execute(c, "verify.all", env, body)


namespace = Collection("verify", health, db, redis, smoke, traffic, config, monitoring, monitor, all_checks)
