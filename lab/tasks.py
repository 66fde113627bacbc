"""`inv lab.up`, `inv lab.down`, `inv lab.status`: the local lab of real hosts on loopback (lab/labctl).

The root tasks.py adds this collection with `namespace.add_collection(lab.tasks.ns)`.
"""

from invoke import Collection, Exit, task


@task(help={"no_services": "Do not start the shared PostgreSQL and Redis compose services on the db host."})
def up(c, no_services=False):
    """Bring the lab up (idempotent): sshd, dockerd, nginx, Prometheus, webhook receiver; write lab/hosts.yml."""
    from lab import labctl  # imported here so that `inv --list` stays fast

    try:
        labctl.up(services=not no_services)
    except labctl.LabError as exc:
        raise Exit(f"lab.up: {exc}", code=1) from None


@task
def down(c):
    """Stop everything the lab started (by PID) and remove the lab root; the base image cache stays."""
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
