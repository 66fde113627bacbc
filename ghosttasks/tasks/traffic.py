"""traffic.*: switch the LB between blue and green, show what serves, verify through the LB."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.tasks.runtime import DRY_HELP, ENV_HELP, JSON_HELP, YES_HELP, execute, ghost_task


@ghost_task(
    positional=["color"], help={"color": "blue or green", "env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP}
)
def switch(c, color, env=None, dry_run=False, yes=False):
    """Send traffic to COLOR: health-check it on every app host, flip the LB's flag (no reload), verify."""
    from ghosttasks.flows import switch as flow

    color = validate.color(color)
    execute(
        c,
        env,
        lambda run: flow.switch(run, color),
        dry_run=dry_run,
        confirm_summary=f"Switch traffic to {color}",
        yes=yes,
    )


@ghost_task(
    help={
        "env": ENV_HELP,
        "json": JSON_HELP,
        "samples": "requests to send through the LB (default 10)",
        "share_requests": "requests, each a new client (its own canary cookie), to measure the share per colour "
        "through the LB (default 200; 0: not measured)",
    }
)
def status(c, env=None, json=False, samples=10, share_requests=200):
    """Which colour the LB sends traffic to: recorded state, live upstream file, a sample of answers, and the share
    per colour (the canary's buckets, and as measured through the LB)."""
    from ghosttasks.flows.status import traffic_status
    from ghosttasks.terminal import reporting

    count = int(validate.positive_number(samples, "--samples"))
    clients = int(validate.positive_number(share_requests, "--share-requests", allow_zero=True))
    execute(
        c,
        env,
        lambda run: reporting.show_traffic(run.out, traffic_status(run, count, clients), as_json=json),
        quiet=json,
    )


@ghost_task(
    positional=["percent"],
    help={
        "percent": "share of clients on the idle colour, a multiple of 5 from 5 to 95 (sticky per client); 0: none",
        "env": ENV_HELP,
        "dry_run": DRY_HELP,
        "yes": YES_HELP,
    },
)
def canary(c, percent, env=None, dry_run=False, yes=False):
    """Send PERCENT % of clients to the idle colour (its version must be good), the rest stay; 0 ends it.

    No reload: bucket files on the LB, swapped in one rename. The share stays until changed or a switch.
    """
    from ghosttasks.flows import canary as flow

    share = validate.canary_percent(percent)
    execute(
        c,
        env,
        lambda run: flow.set_by_hand(run, share),
        dry_run=dry_run,
        confirm_summary=f"Canary {share}% on the idle colour" if share else "End the canary",
        yes=yes,
    )


@ghost_task(help={"color": "colour every answer must come from (default: the active one)", "env": ENV_HELP})
def verify(c, color=None, env=None):
    """Sample the LB on new connections: every answer must come from one colour and its version."""
    from ghosttasks.flows import checks as flow

    color = validate.color(color) if color is not None else None
    execute(c, env, lambda run: flow.traffic(run, color))


namespace = Collection("traffic", switch, canary, status, verify)
