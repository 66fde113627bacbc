"""The ghostlab: real hosts on loopback addresses of this one machine, for ghosttasks to deploy to.

Public API (used by `inv lab.*` and the lab tests):

    up(services=True, quiet=False, topology="flat") -> LabStatus
                                                  bring everything up (idempotent), write the inventory
    down(quiet=False) -> list[str]                stop what the lab started (by PID) and remove its root
    status(quiet=False) -> LabStatus              each daemon with its PID and whether it is alive
    layout() -> Layout                            every path of the lab (keys, logs, sockets, app dirs)
    current_topology() -> Topology | None         the topology at the lab root (FLAT or BASTION)
    inventory_path(topology) -> Path              lab/hosts.yml (flat) or lab/hosts-bastion.yml (bastion)
    secrets() -> dict[str, str]                   the marker secret values written to the .env files
    ensure_packages() -> str                      apt-get install the lab's Debian packages when missing

Hosts: lb 127.0.0.10 (sshd + nginx), app1 127.0.0.11 and app2 127.0.0.12 (sshd + dockerd), db 127.0.0.13
(sshd + dockerd with the shared PostgreSQL/Redis; staging binds 127.0.0.17 on it), Prometheus 127.0.0.14:9090,
webhook receiver 127.0.0.15:8080, Alertmanager 127.0.0.18:9093 (receivers: the webhook receiver's /oncall and
/escalation), Pushgateway 127.0.0.19:9091, dev on 127.0.0.16 (local, app1's engine). Everything the lab creates lives
under lab_root() (/var/lib/ghostlab or $GHOSTLAB_ROOT); the base image tarball is cached under
/var/cache/ghostlab ($GHOSTLAB_CACHE), which down() keeps.

The bastion topology (`up(topology="bastion")`, lab/labctl/hosts.py) builds the same prod hosts in the
network namespace ghostlab-prod (bastion 127.0.0.30, lb .31, app1 .32, app2 .33, db .34, Prometheus .35:9090,
all inside it), entered as the non-root user deploy through the bastion; this machine reaches only the
bastion's sshd at 127.0.0.40:2222 and the LB at http://127.0.0.41 (socat pairs over unix sockets). Outside
the lab root it makes the namespace, the deploy user and ghostlab-docker group, and the sudoers drop-in
/etc/sudoers.d/ghostlab-deploy; down() removes them. One lab root holds one topology at a time.

Modules (one concern each):

    hosts         the lab's hosts, their addresses and ports, per topology (flat, bastion)
    topology      which topology a lab root holds
    netns         the bastion topology's network namespace: create, start in it, look into it
    users         the bastion topology's deploy user, Docker group and sudoers drop-in
    paths         the lab root and cache, every path under the root (Layout)
    packages      Debian packages (no system service started) and the Compose v2 plugin
    configs       SSH keys and the sshd, dockerd, nginx and Prometheus configurations
    daemons       each long-running process: its command line, address and readiness check
    supervisor    starting the daemons (PID files, reload on a changed config) and waiting until they answer
    processes     processes in /proc: alive (and the lab's), everything below one
    provisioning  origin, app clones with .env and secrets, shared services, prod database
    shop          the second app (lab/app2, environment shop): origin, clones, its db and cache
    base_image    mmdebstrap from this machine's Debian mirror, cached, docker imported
    inventory     lab/hosts.yml (flat) and lab/hosts-bastion.yml (bastion)
    sudoers       the LB's sudoers drop-in, as python3 -m ghosttasks.commands.sudoers prints it
    teardown      down(): stop by PID, stragglers, unmounts
    commands, files, progress, errors: running commands, writing rendered files, step lines, LabError
"""

from __future__ import annotations

import contextlib
import http.client
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lab.labctl import netns, shop, users
from lab.labctl.base_image import BaseImageBuild, import_base_image
from lab.labctl.configs import client_public_key, ensure_keys, write_configs
from lab.labctl.daemons import lab_daemons
from lab.labctl.errors import LabError
from lab.labctl.hosts import (
    BASTION,
    FLAT,
    HOSTS,
    PROMETHEUS_PORT,
    TOPOLOGIES,
    WEBHOOK_ADDR,
    WEBHOOK_PORT,
    LabHost,
    Topology,
)
from lab.labctl.inventory import inventory_path, write_inventory
from lab.labctl.packages import ensure_compose_plugin, ensure_packages
from lab.labctl.paths import REPO, Layout, cache_dir, lab_root, layout
from lab.labctl.progress import Reporter
from lab.labctl.provisioning import (
    deploy_owned,
    ensure_app_dirs,
    ensure_origin,
    provision_prod_database,
    provision_staging_database,
    secrets,
    start_shared_services,
)
from lab.labctl.supervisor import recorded_pid, running_pid, start_daemons
from lab.labctl.teardown import down
from lab.labctl.topology import record, recorded, select

__all__ = [
    "BASTION",
    "FLAT",
    "HOSTS",
    "TOPOLOGIES",
    "DaemonState",
    "LabError",
    "LabHost",
    "LabStatus",
    "Layout",
    "Topology",
    "cache_dir",
    "current_topology",
    "down",
    "ensure_packages",
    "inventory_path",
    "lab_root",
    "layout",
    "secrets",
    "status",
    "up",
]


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class DaemonState:
    """One lab daemon as status() found it."""

    name: str
    pid: int | None
    alive: bool
    listen: str


@dataclass(frozen=True)
class LabStatus:
    """What runs: each daemon with its PID, and what the LB answers (HTTP status, None if nothing)."""

    root: Path
    daemons: tuple[DaemonState, ...]
    lb_http_status: int | None
    topology: Topology = FLAT

    @property
    def running(self) -> bool:
        """Whether every lab daemon is alive."""
        return bool(self.daemons) and all(daemon.alive for daemon in self.daemons)

    def lines(self) -> list[str]:
        """The status as printed by `inv lab.status`."""
        state = "up" if self.running else "not (fully) up"
        out = [f"ghostlab ({self.topology.name} topology) at {self.root}: {state}"]
        for d in self.daemons:
            alive = "alive" if d.alive else "dead"
            out.append(f"  {d.name:<17} pid {d.pid or '-'!s:<7} {alive:<5}  {d.listen}")
        answer = f"HTTP {self.lb_http_status}" if self.lb_http_status else "no answer"
        out.append(f"  lb {self.topology.public_url}/ answers: {answer}")
        return out


def current_topology() -> Topology | None:
    """The topology of the lab at lab_root() (None when there is no lab)."""
    return recorded(layout())


def _lb_answer(topo: Topology) -> int | None:
    address, port = topo.public_lb
    conn = http.client.HTTPConnection(address, port, timeout=2)
    try:
        conn.request("GET", "/api/v1/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def status(quiet: bool = False) -> LabStatus:
    """Each lab daemon with its PID and alive state, and whether the LB answers."""
    lay = layout()
    topo = recorded(lay) or FLAT
    states = []
    for daemon in lab_daemons(lay, topo):
        pid = running_pid(lay, daemon.name)
        known = recorded_pid(lay, daemon.name)
        where = f" (netns {daemon.namespace})" if daemon.namespace else ""
        states.append(DaemonState(daemon.name, pid or known, pid is not None, daemon.listen + where))
    result = LabStatus(lay.root, tuple(states), _lb_answer(topo), topo)
    if not quiet:
        print("\n".join(result.lines()))
    return result


# --------------------------------------------------------------------------- up


def up(services: bool = True, quiet: bool = False, topology: str = "flat") -> LabStatus:
    """Bring the whole lab up (idempotent), write and validate its inventory; LabError says what failed.

    `topology`: 'flat' (every host on this machine's loopback, root) or 'bastion' (the hosts in a network
    namespace behind a bastion, entered as deploy). A lab root holds one topology: bringing up the other
    one is refused until `down()`.
    """
    topo = select(topology)
    lay = layout()
    report = Reporter(quiet)
    report.say(f"ghostlab: bringing the {topo.name} lab up at {lay.root}")
    report.step("packages", ensure_packages)
    record(lay, topo)
    for sub in (lay.run_dir, lay.log_dir):
        sub.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    build = BaseImageBuild(lay)
    build.start()
    try:
        _bring_up_hosts(lay, topo, report)
    except BaseException:
        if build.running:
            report.say("  (letting the base image build finish, so that the next up is fast)")
            with contextlib.suppress(LabError):
                build.wait()
        raise
    report.step("base tarball", build.wait)
    report.step("base image", partial(import_base_image, lay, build, topo))
    if services:
        shop_services = shop.start_services(lay, topo)  # in the background, beside the demo's
        report.step("shared services", partial(start_shared_services, lay, topo))
        report.step("prod database", partial(provision_prod_database, lay))
        if topo is FLAT:
            report.step("staging database", partial(provision_staging_database, lay))
        report.step("shop services", partial(shop.wait_services, shop_services, topo))
    if topo.namespace:
        report.step("hand over", partial(_hand_over, lay, topo))
    report.step("inventory", partial(write_inventory, lay, topo))
    if topo.namespace:
        report.step("sudoers", partial(_install_sudoers, lay, topo))
    report.say(f"ghostlab up in {report.elapsed:.1f} s")
    report.say(_usage(lay, topo))
    return status(quiet=True)


def _bring_up_hosts(lay: Layout, topo: Topology, report: Reporter) -> None:
    """Keys, configuration, daemons, origin and app dirs: everything that does not need the base image."""
    report.step("compose plugin", partial(ensure_compose_plugin, lay, topo))
    report.step("ssh keys", partial(ensure_keys, lay, topo))
    if topo.namespace:
        namespace = topo.namespace
        report.step("network namespace", partial(netns.ensure, namespace))
        report.step("docker group", users.ensure_group)
        report.step("deploy user", lambda: users.ensure_user(lay, client_public_key(lay)))
        lay.bridge_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lay.bridge_dir.chmod(0o700)
    changed: set[str] = set()
    report.step("configs", lambda: changed.update(write_configs(lay, topo)) or "every daemon")
    start_daemons(lay, changed, report, topo)
    report.step("origin", partial(ensure_origin, lay))
    report.step("app dirs", partial(ensure_app_dirs, lay, topo))
    report.step("shop origin", partial(shop.ensure_origin, lay))
    report.step("shop dirs", partial(shop.ensure_dirs, lay, topo))


def _hand_over(lay: Layout, topo: Topology) -> str:
    """The deploy user's trees (clones, releases, backups, LB state, DOCKER_CONFIG); the compose plugin stays root's."""
    done = users.hand_over(deploy_owned(lay, topo))
    for host in topo.docker_hosts:
        plugins = lay.docker_config(host.name) / "cli-plugins"
        for path in (plugins, *plugins.iterdir()):
            os.chown(path, 0, 0)
    return done


def _install_sudoers(lay: Layout, topo: Topology) -> str:
    """The LB's sudoers drop-in: exactly the commands ghosttasks runs there with sudo -n (its own generator), for
    every environment of the inventory with lb.sudo (prod and the second app's shop)."""
    from ghosttasks.config.inventory import load_inventory
    from lab.labctl.sudoers import drop_in

    path = inventory_path(topo)
    names = [name for name, env in load_inventory(path).environments.items() if env.lb and env.lb.sudo]
    return users.install_sudoers(lay, "".join(drop_in(path, name) for name in names))


def _usage(lay: Layout, topo: Topology) -> str:
    """How to use the lab, printed at the end of up()."""
    inventory = inventory_path(topo)
    shown = inventory.relative_to(REPO) if inventory.is_relative_to(REPO) else inventory
    lines = [
        "Use it:",
        f"  export GHOST_INVENTORY={shown}",
        "  inv deploy.prod --version v1.0.0 --yes",
    ]
    if topo.namespace:
        lines += [
            f"  {' '.join(lay.ssh_host_argv('app1'))} docker compose version   # as deploy, through the bastion",
            f"  curl {topo.public_url}/api/v1/health          # the LB's public port (nginx -c {lay.nginx_conf})",
            f"  nsenter --net=/run/netns/{topo.namespace} curl http://{topo.monitoring_addr}:{PROMETHEUS_PORT}"
            "/api/v1/targets   # Prometheus, inside",
        ]
    else:
        lines += [
            f"  {' '.join(lay.ssh_argv('127.0.0.11'))} docker compose version",
            f"  curl {topo.public_url}/api/v1/health          # the LB (nginx -c {lay.nginx_conf})",
            f"  curl --cacert {lay.lab_ca} https://{topo.lb_addr}/api/v1/health   # TLS, the lab CA (probes.ca_file)",
            f"  curl http://{topo.monitoring_addr}:{PROMETHEUS_PORT}/api/v1/targets   # Prometheus",
        ]
    lines += [
        f"  curl http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/events          # recorded webhooks",
        "  inv lab.status / inv lab.down",
    ]
    return "\n".join(lines)
