"""traffic.*: switch the LB between blue and green, show what serves, verify through the LB."""

from __future__ import annotations

from invoke import Collection

from ghosttasks.domain import validate
from ghosttasks.domain.errors import OperationFailed
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
    """Which colour the LBs send traffic to: recorded state, each LB's flag and config, a sample of answers, and the
    share per colour (the canary's buckets, and as measured through the LB).

    LBs that disagree (or one whose flag cannot be read) are an error (exit 1) naming the command that repairs it.
    """
    from ghosttasks.flows.status import traffic_status
    from ghosttasks.terminal import reporting

    count = int(validate.positive_number(samples, "--samples"))
    clients = int(validate.positive_number(share_requests, "--share-requests", allow_zero=True))

    def show(run):
        report = traffic_status(run, count, clients)
        reporting.show_traffic(run.out, report, as_json=json)
        problem = report.get("lb", {}).get("problem")
        if problem:
            raise OperationFailed(problem)

    execute(c, env, show, quiet=json)


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


@ghost_task(help={"env": ENV_HELP, "dry_run": DRY_HELP, "yes": YES_HELP})
def install(c, env=None, dry_run=False, yes=False):
    """First-time setup of the LB: install the upstream and the selector, check nginx -T includes them, reload once.

    Run it before the first deploy (and again after editing the site config as it says). It does not touch the
    flag: with none, the selector sends traffic to blue.
    """
    from ghosttasks.flows import lb_setup as flow

    execute(c, env, flow.install, dry_run=dry_run, confirm_summary="Install the LB's nginx files and reload", yes=yes)


namespace = Collection("traffic", switch, canary, status, verify, install)
