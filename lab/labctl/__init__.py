"""The ghostlab: real hosts on loopback addresses of this one machine, for ghosttasks to deploy to.

Public API (used by `inv lab.*` and the lab tests):

    up(services=True, quiet=False) -> LabStatus   bring everything up (idempotent), write lab/hosts.yml
    down(quiet=False) -> list[str]                stop what the lab started (by PID) and remove its root
    status(quiet=False) -> LabStatus              each daemon with its PID and whether it is alive
    layout() -> Layout                            every path of the lab (keys, logs, sockets, app dirs)
    secrets() -> dict[str, str]                   the marker secret values written to the .env files
    ensure_packages() -> str                      apt-get install the lab's Debian packages when missing

Hosts: lb 127.0.0.10 (sshd + nginx), app1 127.0.0.11 and app2 127.0.0.12 (sshd + dockerd), db 127.0.0.13
(sshd + dockerd with the shared PostgreSQL/Redis; staging binds 127.0.0.17 on it), Prometheus 127.0.0.14:9090,
webhook receiver 127.0.0.15:8080, dev on 127.0.0.16 (local, app1's engine). Everything the lab creates lives
under lab_root() (/var/lib/ghostlab or $GHOSTLAB_ROOT); the base image tarball is cached under
/var/cache/ghostlab ($GHOSTLAB_CACHE), which down() keeps.

Modules (one concern each):

    hosts         the lab's hosts, their addresses and ports
    paths         the lab root and cache, every path under the root (Layout)
    packages      Debian packages (no system service started) and the Compose v2 plugin
    configs       SSH keys and the sshd, dockerd, nginx and Prometheus configurations
    daemons       the long-running processes: start, liveness (/proc), readiness
    provisioning  origin, app clones with .env and secrets, shared services, prod database
    base_image    mmdebstrap from this machine's Debian mirror, cached, docker imported
    inventory     lab/hosts.yml
    teardown      down(): stop by PID, stragglers, unmounts
    commands, files, progress, errors: running commands, writing rendered files, step lines, LabError
"""

from __future__ import annotations

import contextlib
import http.client
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lab.labctl.base_image import BaseImageBuild, import_base_image
from lab.labctl.configs import ensure_keys, write_configs
from lab.labctl.daemons import lab_daemons, recorded_pid, running_pid, start_daemons
from lab.labctl.errors import LabError
from lab.labctl.hosts import HOSTS, LB_ADDR, MONITORING_ADDR, PROMETHEUS_PORT, WEBHOOK_ADDR, WEBHOOK_PORT, LabHost
from lab.labctl.inventory import INVENTORY, write_inventory
from lab.labctl.packages import ensure_compose_plugin, ensure_packages
from lab.labctl.paths import REPO, Layout, cache_dir, lab_root, layout
from lab.labctl.progress import Reporter
from lab.labctl.provisioning import (
    ensure_app_dirs,
    ensure_origin,
    provision_prod_database,
    secrets,
    start_shared_services,
)
from lab.labctl.teardown import down

__all__ = [
    "HOSTS",
    "DaemonState",
    "LabError",
    "LabHost",
    "LabStatus",
    "Layout",
    "cache_dir",
    "down",
    "ensure_packages",
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

    @property
    def running(self) -> bool:
        """Whether every lab daemon is alive."""
        return bool(self.daemons) and all(daemon.alive for daemon in self.daemons)

    def lines(self) -> list[str]:
        """The status as printed by `inv lab.status`."""
        out = [f"ghostlab at {self.root}: {'up' if self.running else 'not (fully) up'}"]
        for d in self.daemons:
            state = "alive" if d.alive else "dead"
            out.append(f"  {d.name:<14} pid {d.pid or '-'!s:<7} {state:<5}  {d.listen}")
        answer = f"HTTP {self.lb_http_status}" if self.lb_http_status else "no answer"
        out.append(f"  lb http://{LB_ADDR}/ answers: {answer}")
        return out


def _lb_answer() -> int | None:
    conn = http.client.HTTPConnection(LB_ADDR, 80, timeout=2)
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
    states = []
    for daemon in lab_daemons(lay):
        pid = running_pid(lay, daemon.name)
        recorded = recorded_pid(lay, daemon.name)
        states.append(DaemonState(daemon.name, pid or recorded, pid is not None, daemon.listen))
    result = LabStatus(lay.root, tuple(states), _lb_answer())
    if not quiet:
        print("\n".join(result.lines()))
    return result


# --------------------------------------------------------------------------- up


def up(services: bool = True, quiet: bool = False) -> LabStatus:
    """Bring the whole lab up (idempotent), write and validate lab/hosts.yml; LabError says what failed."""
    lay = layout()
    report = Reporter(quiet)
    report.say(f"ghostlab: bringing the lab up at {lay.root}")
    report.step("packages", ensure_packages)
    for sub in (lay.run_dir, lay.log_dir):
        sub.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    build = BaseImageBuild(lay)
    build.start()
    try:
        _bring_up_hosts(lay, report)
    except BaseException:
        if build.running:
            report.say("  (letting the base image build finish, so that the next up is fast)")
            with contextlib.suppress(LabError):
                build.wait()
        raise
    report.step("base tarball", build.wait)
    report.step("base image", partial(import_base_image, lay, build))
    if services:
        report.step("shared services", partial(start_shared_services, lay))
        report.step("prod database", partial(provision_prod_database, lay))
    report.step("inventory", partial(write_inventory, lay))
    report.say(f"ghostlab up in {report.elapsed:.1f} s")
    report.say(_usage(lay))
    return status(quiet=True)


def _bring_up_hosts(lay: Layout, report: Reporter) -> None:
    """Keys, configuration, daemons, origin and app dirs: everything that does not need the base image."""
    report.step("compose plugin", partial(ensure_compose_plugin, lay))
    report.step("ssh keys", partial(ensure_keys, lay))
    changed: set[str] = set()
    report.step("configs", lambda: changed.update(write_configs(lay)) or "sshd, dockerd, nginx, prometheus")
    start_daemons(lay, changed, report)
    report.step("origin", partial(ensure_origin, lay))
    report.step("app dirs", partial(ensure_app_dirs, lay))


def _usage(lay: Layout) -> str:
    """How to use the lab, printed at the end of up()."""
    ssh = " ".join(lay.ssh_argv("127.0.0.11"))
    return "\n".join(
        [
            "Use it:",
            f"  export GHOST_INVENTORY={INVENTORY.relative_to(REPO) if INVENTORY.is_relative_to(REPO) else INVENTORY}",
            "  inv deploy.prod --version v1.0.0 --yes",
            f"  {ssh} docker compose version",
            f"  curl http://{LB_ADDR}/api/v1/health          # the LB (nginx -c {lay.nginx_conf})",
            f"  curl http://{MONITORING_ADDR}:{PROMETHEUS_PORT}/api/v1/targets   # Prometheus",
            f"  curl http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/events          # recorded webhooks",
            "  inv lab.status / inv lab.down",
        ]
    )
