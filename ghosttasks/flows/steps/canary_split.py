"""The canary's split on every LB, one function per operation: set a share of buckets to a colour, renew a deploy
canary's lease, clear every bucket, read them. Each is one command on the LB (ghosttasks.commands.nginx); none
reloads nginx."""

from __future__ import annotations

from ghosttasks.commands import nginx
from ghosttasks.config.inventory import Host
from ghosttasks.domain.canary_buckets import percent_of
from ghosttasks.domain.colors import Color
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.run import Run


def _lb(run: Run) -> None:
    if run.env.lb is None:
        raise OperationFailed(f"environment {run.env.name} has no lb: there is no traffic to split")


def set_canary(run: Run, color: Color, percent: int, *, lease_seconds: int | None = None) -> None:
    """Send `percent` % of clients (sticky, by bucket) and every forced tester to `color`: one atomic swap of the
    bucket directory. lease_seconds: the LB clears the buckets by itself unless renew_canary runs in time."""
    _lb(run)
    env = run.env
    command = nginx.set_buckets(env.canary_path, color, percent, lease_seconds=lease_seconds)
    for host in env.lb_hosts:  # every LB: a client lands in the same bucket whichever LB it reaches
        run.executor.run(host, command, what=f"canary: {percent}% of clients to {color}")


def renew_canary(run: Run) -> None:
    """Renew a deploy canary's lease on every LB."""
    for host in run.env.lb_hosts:
        run.executor.run(host, nginx.renew_lease(run.env.canary_path), what="renew the canary's lease")


def clear_canary(run: Run, hosts: list[Host] | None = None, *, check: bool = True) -> None:
    """Every bucket back to the colour the flag selects (no canary): one atomic unlink on each LB (`hosts`, default
    all); check False: a failure is left for the caller to report (the emergency flip goes on regardless)."""
    _lb(run)
    env = run.env
    command = nginx.clear_buckets(env.canary_path)
    for host in env.lb_hosts if hosts is None else hosts:
        run.executor.run(host, command, check=check, what="canary: every client to the flag's colour")


def read_canary(run: Run, *, assumed: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """The canary's buckets on the LB by colour ({} when no canary runs)."""
    _lb(run)
    return run.executor.read(run.env.lb_host, nginx.lb_buckets(run.env.canary_path, assumed=assumed))


def shares(run: Run, active: Color | None) -> dict[str, int]:
    """The share per colour (percent) the LB's buckets and flag set: the canary colour's buckets, the rest on the
    flag's colour."""
    buckets = read_canary(run)
    result = {color: 0 for color in ("blue", "green")}
    if active is None:
        return result
    other = "green" if active == "blue" else "blue"
    result[other] = percent_of(buckets.get(other, []))
    result[active] = 100 - result[other]
    return result
