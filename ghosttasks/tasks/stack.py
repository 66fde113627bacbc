"""stack.*: the runbook's troubleshooting commands on the right hosts."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import ENV_HELP, execute, ghost_task


@ghost_task(help={"env": ENV_HELP})
def ps(c, env=None):
    """docker compose ps for every project: both colours on each app host, shared services on the db host."""
    from ghosttasks.flows import troubleshooting

    execute(c, env, troubleshooting.ps)


@ghost_task(
    positional=["service"],
    help={
        "service": "compose service (api, web, postgres, redis)",
        "color": "only this colour's project (blue or green)",
        "tail": "lines per container (default 200)",
        "env": ENV_HELP,
    },
)
def logs(c, service, color=None, tail=200, env=None):
    """docker compose logs SERVICE from every host that runs it (secrets masked)."""
    from ghosttasks.flows import troubleshooting

    service = validate.service(service)
    color = validate.color(color, "--color") if color is not None else None
    lines = int(validate.positive_number(tail, "--tail"))
    execute(c, env, lambda run: troubleshooting.logs(run, service, color=color, tail=lines))


@ghost_task(help={"env": ENV_HELP})
def stats(c, env=None):
    """docker stats (CPU, memory, network) on the app and db hosts."""
    from ghosttasks.flows import troubleshooting

    execute(c, env, troubleshooting.stats)


@ghost_task(help={"env": ENV_HELP})
def config(c, env=None):
    """The resolved docker compose configuration of every project, secrets masked."""
    from ghosttasks.flows import troubleshooting

    execute(c, env, troubleshooting.config)


@ghost_task(name="pg-isready", help={"env": ENV_HELP})
def pg_isready(c, env=None):
    """pg_isready inside the postgres container on the db host."""
    from ghosttasks.domain.errors import OperationFailed
    from ghosttasks.flows import troubleshooting

    def body(run):
        if not troubleshooting.pg_isready(run):
            raise OperationFailed("PostgreSQL is not accepting connections")

    execute(c, env, body)


namespace = Collection("stack", ps, logs, stats, config, pg_isready)
