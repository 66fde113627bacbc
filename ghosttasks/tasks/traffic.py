"""traffic.*: switch the LB between blue and green, show what serves, verify through the LB."""

from __future__ import annotations

from invoke import Collection

from ghosttasks import validate
from ghosttasks.tasks.common import DRY_HELP, ENV_HELP, JSON_HELP, YES_HELP, execute, ghost_task


@ghost_task(
    positional=["color"], help={"color": "blue or green", "env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP}
)
def switch(c, color, env=None, dry_run=False, yes=False):
    """Send traffic to COLOR: health-check it on every app host, render the upstream, nginx -t, reload, verify."""
    from ghosttasks.flows import blue_green

    color = validate.color(color)
    execute(
        c,
        "traffic.switch",
        env,
        lambda run: blue_green.switch(run, color),
        dry_run=dry_run,
        confirm_summary=f"Switch traffic to {color}",
        yes=yes,
    )


@ghost_task(help={"env": ENV_HELP, "json": JSON_HELP, "samples": "requests to send through the LB (default 10)"})
def status(c, env=None, json=False, samples=10):
    """Which colour the LB sends traffic to: recorded state, live upstream file and a sample of answers."""
    from ghosttasks import probes
    from ghosttasks.flows.status import status as read_status

    count = int(validate.positive_number(samples, "--samples"))

    def body(run):
        report = read_status(run)
        url = run.env.lb.public_url.rstrip("/") + run.env.app.health_paths["api"]
        sample = probes.sample_traffic(url, count)
        report["sample"] = {f"{c or '?'} {v or '?'}": n for (c, v), n in sample.answers.items()}
        report["sample_failures"] = len(sample.failures)
        if json:
            run.out.json(report)
        else:
            lb = report.get("lb", {})
            run.out.info(f"recorded: active {report['active']}, previous {report['previous']}")
            run.out.info(f"LB upstream file: {lb.get('color')} {lb.get('version')} (rendered {lb.get('rendered')})")
            run.out.info(f"answers: {sample.summary()}")
        return report

    return execute(c, "traffic.status", env, body, quiet=json)


@ghost_task(help={"color": "colour every answer must come from (default: the active one)", "env": ENV_HELP})
def verify(c, color=None, env=None):
    """Sample the LB on new connections: every answer must come from one colour and its version."""
    from ghosttasks.flows import verify as flow

    color = validate.color(color) if color is not None else None
    execute(c, "traffic.verify", env, lambda run: flow.traffic(run, color))


namespace = Collection("traffic", switch, status, verify)
