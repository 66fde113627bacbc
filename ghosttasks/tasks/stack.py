"""stack.*: the runbook's troubleshooting commands on the right hosts."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import DRY_HELP, ENV_HELP, JSON_HELP, execute, ghost_task


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


@ghost_task(
    help={
        "minutes": "how long to sample (default 5)",
        "interval": "seconds between two samples (default 15)",
        "threshold": "flag a container that only grows faster than this many MiB per minute (default 1)",
        "json": JSON_HELP,
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
    }
)
def memory(c, minutes=5, interval=15, threshold=1.0, json=False, env=None, dry_run=False):
    """Every container's memory and restarts on the app and db hosts over time: growth per minute, a sparkline,
    and a flag on a container whose memory only grows past the threshold."""
    from ghosttasks.flows import performance

    chosen = validate.positive_number(minutes, "--minutes")
    every = validate.positive_number(interval, "--interval")
    limit = validate.positive_number(threshold, "--threshold")
    execute(
        c,
        env,
        lambda run: performance.memory(run, minutes=chosen, interval=every, threshold=limit, as_json=json),
        dry_run=dry_run,
        quiet=json,
    )


@ghost_task(
    positional=["service"],
    help={
        "service": "compose service: a per-colour one (restarted without downtime) or a shared one (needs --yes)",
        "color": "the colour to restart (default: the serving one); the idle colour gets a plain restart",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": "restart a shared service (everything that uses it is interrupted); needs a terminal as well",
    },
)
def restart(c, service, color=None, env=None, dry_run=False, yes=False):
    """Restart a service: the serving colour's without downtime (the same version started in the idle colour,
    health, smoke, switch, then the old restarted), the idle colour's in place, a shared one only with --yes."""
    import sys

    from ghosttasks.domain.errors import BadInput
    from ghosttasks.flows import restart as flow
    from ghosttasks.tasks.runtime import confirm, finish, is_dry, start

    service = validate.service(service)
    color = validate.color(color, "--color") if color is not None else None
    run = start(c, env, dry_run=dry_run)
    try:
        if flow.kind(run, service) == "shared" and not run.dry_run:
            if not yes:
                raise BadInput(f"refusing without --yes: {flow.interrupts(run, service)}")
            if not sys.stdin.isatty():
                raise BadInput(f"refusing off a terminal: {flow.interrupts(run, service)}; run it from a terminal")
            run.out.warn(flow.interrupts(run, service))
        else:
            confirm(run, f"restart {service}", yes or is_dry(c, dry_run))
        flow.restart(run, service, color)
    finally:
        finish(run)


namespace = Collection("stack", ps, logs, stats, config, pg_isready, memory, restart)
