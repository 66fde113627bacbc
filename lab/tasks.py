"""`inv lab.up`, `inv lab.down`, `inv lab.status`: the local lab of real hosts on loopback (lab/labctl).

The root tasks.py adds this collection with `namespace.add_collection(lab.tasks.ns)`.
"""

from invoke import Collection, Exit, task

TOPOLOGIES = ("flat", "bastion")


@task(
    help={
        "no_services": "Do not start the shared PostgreSQL and Redis compose services on the db host.",
        "topology": "flat (default: every host on this machine's 127.0.0.x, entered as root; writes lab/hosts.yml) "
        "or bastion (the hosts in the network namespace ghostlab-prod, reachable only at the bastion's SSH port "
        "and the LB's public port, entered as deploy with sudo on the LB; writes lab/hosts-bastion.yml). "
        "Switch with inv lab.down first.",
    }
)
def up(c, no_services=False, topology="flat"):
    """Bring the lab up (idempotent): sshd, dockerd, nginx, Prometheus, webhook receiver; write its inventory."""
    if topology not in TOPOLOGIES:
        raise Exit(f"lab.up: --topology must be one of {', '.join(TOPOLOGIES)}, not {topology!r}", code=2)
    from lab import labctl  # imported here so that `inv --list` stays fast

    try:
        labctl.up(services=not no_services, topology=topology)
    except labctl.LabError as exc:
        raise Exit(f"lab.up: {exc}", code=1) from None


@task
def down(c):
    """Stop everything the lab started (by PID) and remove the lab root; the base image cache stays.

    The bastion topology also loses its network namespace, sudoers drop-in, deploy user and Docker group.
    """
    from lab import labctl

    try:
        labctl.down()
    except labctl.LabError as exc:
        raise Exit(f"lab.down: {exc}", code=1) from None


@task
def status(c):
    """Show each lab daemon with its PID and whether it is alive, and whether the LB answers."""
    from lab import labctl

    if not labctl.status().running:
        raise Exit(code=1)


ns = Collection("lab", up, down, status)
