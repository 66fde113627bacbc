"""The lab's hosts: one loopback address each (sshd, dockerd unless docker=False), and every address and port.

Two topologies build the same production hosts (lb, app1, app2, db, Prometheus, a docker registry):

- flat (the default, `make demo`): every host on a 127.0.0.x address of this machine, entered as root;
  dev and staging beside them. It also has a second LB, lb2 (127.0.0.21, its own sshd and nginx), for the
  inventories that declare two LBs (tests/lab/test_66_two_lbs.py; lab/hosts.yml's prod declares lb alone).
  lb2 has the same paths as lb but its own files: its sshd and nginx run in a mount namespace where
  Layout.lb2_view is bound over Layout.lb_dir (daemons.py), as a second machine would have them.
- bastion: the hosts live in the network namespace ghostlab-prod, on loopback addresses of their own
  (127.0.0.30-35 inside it). The operator's side (this machine's namespace) reaches exactly two ports:
  the bastion's sshd (127.0.0.40:2222) and the LB's public HTTP port (127.0.0.41:80), each bridged by a
  socat pair over a unix socket. Hosts are entered as the non-root user `deploy`, through the bastion.
"""

from __future__ import annotations

from dataclasses import dataclass

SSH_PORT = 2222
COLOR_PORTS = {"blue": {"api": 8001, "web": 3001}, "green": {"api": 8002, "web": 3002}}
# The second app (lab/app2, "the shop", environment `shop`): its own ports on the same hosts, its own LB port.
SHOP_COLOR_PORTS = {"blue": {"orders": 8101, "storefront": 3101}, "green": {"orders": 8102, "storefront": 3102}}
SHOP_LB_PORT = 8080  # the LB's second server (nginx), in front of the shop
SHOP_DB_PORT = 5433  # the shop's own PostgreSQL (compose service `db`, project shop) on the db host
SHOP_CACHE_PORT = 6380  # its Redis (compose service `cache`)
LB_ADDR = "127.0.0.10"
LB2_ADDR = "127.0.0.21"  # the flat topology's second LB (its own sshd and nginx, the same paths as lb's)
DB_ADDR = "127.0.0.13"
MONITORING_ADDR = "127.0.0.14"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
PUSHGATEWAY_PORT = 9091
WEBHOOK_ADDR = "127.0.0.15"
WEBHOOK_PORT = 8080
DEV_ADDR = "127.0.0.16"
STAGING_ADDR = "127.0.0.17"
REGISTRY_ADDR = "127.0.0.20"  # the lab's docker registry (distribution v2, htpasswd); bastion: 127.0.0.38 inside
REGISTRY_PORT = 5000
REGISTRY_USER = "ghostlab"
# A PostgreSQL no lab host serves (the "managed" database of lab/labctl/managed_postgres.py), on this machine.
MANAGED_PG_ADDR = "127.0.0.26"
MANAGED_PG_PORT = 5432
DEV_ENGINE = "app1"

NAMESPACE = "ghostlab-prod"
DEPLOY_USER = "deploy"
DOCKER_GROUP = "ghostlab-docker"


@dataclass(frozen=True)
class LabHost:
    """One lab "machine": a loopback address with its own sshd (and dockerd unless docker=False)."""

    name: str
    address: str
    roles: tuple[str, ...]
    docker: bool = True
    extra_addresses: tuple[str, ...] = ()
    own_lb_dir: bool = False  # a second LB: its daemons see its own files at the LB's paths (a mount namespace)

    @property
    def listen(self) -> tuple[str, ...]:
        """Every address its sshd listens on."""
        return (self.address, *self.extra_addresses)


@dataclass(frozen=True)
class Bridge:
    """One port the operator's side may reach: listen (this machine) -> target (inside the namespace)."""

    name: str
    listen_addr: str
    listen_port: int
    target_addr: str
    target_port: int
    inward: bool = True  # False: listen inside the namespace, connect out (Alertmanager to the webhook receiver)


@dataclass(frozen=True)
class Topology:
    """Where the lab's production hosts live and how they are entered."""

    name: str
    hosts: tuple[LabHost, ...]
    lb_addr: str
    db_addr: str
    monitoring_addr: str
    alertmanager_addr: str
    pushgateway_addr: str
    registry_addr: str
    user: str = "root"
    namespace: str | None = None
    bastion: LabHost | None = None
    bridges: tuple[Bridge, ...] = ()

    @property
    def app_hosts(self) -> tuple[LabHost, ...]:
        """The hosts with the app role."""
        return tuple(host for host in self.hosts if "app" in host.roles)

    @property
    def docker_hosts(self) -> tuple[LabHost, ...]:
        """The hosts with their own dockerd."""
        return tuple(host for host in self.hosts if host.docker)

    @property
    def ssh_hosts(self) -> tuple[LabHost, ...]:
        """Every host with an sshd: the bastion first (if any), then the inventory's hosts."""
        return ((self.bastion,) if self.bastion else ()) + self.hosts

    def bridge(self, name: str) -> Bridge:
        """The bridge named `name` ('ssh' to the bastion, 'http' to the LB)."""
        return next(bridge for bridge in self.bridges if bridge.name == name)

    @property
    def public_lb(self) -> tuple[str, int]:
        """Where the operator's side reaches the LB (address, port)."""
        if self.bridges:
            http = self.bridge("http")
            return http.listen_addr, http.listen_port
        return self.lb_addr, 80

    @property
    def public_url(self) -> str:
        """The LB's public base URL, as the operator's side reaches it."""
        address, port = self.public_lb
        return f"http://{address}" + ("" if port == 80 else f":{port}")

    @property
    def shop_public_url(self) -> str:
        """The LB's second server (the shop's), as the operator's side reaches it."""
        if self.bridges:
            bridge = self.bridge("shop-http")
            return f"http://{bridge.listen_addr}:{bridge.listen_port}"
        return f"http://{self.lb_addr}:{SHOP_LB_PORT}"

    @property
    def jump(self) -> tuple[str, int] | None:
        """Where the operator's side reaches the bastion's sshd (address, port), or None (flat)."""
        if not self.bastion:
            return None
        ssh = self.bridge("ssh")
        return ssh.listen_addr, ssh.listen_port


HOSTS = (
    LabHost("lb", LB_ADDR, ("lb",), docker=False),
    LabHost("app1", "127.0.0.11", ("app",)),
    LabHost("app2", "127.0.0.12", ("app",)),
    LabHost("db", DB_ADDR, ("db",), extra_addresses=(STAGING_ADDR,)),
    LabHost("lb2", LB2_ADDR, ("lb",), docker=False, own_lb_dir=True),
)
APP_HOSTS = tuple(host for host in HOSTS if "app" in host.roles)
DOCKER_HOSTS = tuple(host for host in HOSTS if host.docker)

FLAT = Topology("flat", HOSTS, LB_ADDR, DB_ADDR, MONITORING_ADDR, "127.0.0.18", "127.0.0.19", REGISTRY_ADDR)

BASTION_ADDR = "127.0.0.30"  # inside the namespace
BASTION_PUBLIC_ADDR = "127.0.0.40"  # the operator's side: the bastion's SSH port
LB_PUBLIC_ADDR = "127.0.0.41"  # the operator's side: the LB's public HTTP port
BASTION = Topology(
    "bastion",
    hosts=(
        LabHost("lb", "127.0.0.31", ("lb",), docker=False),
        LabHost("app1", "127.0.0.32", ("app",)),
        LabHost("app2", "127.0.0.33", ("app",)),
        LabHost("db", "127.0.0.34", ("db",)),
    ),
    lb_addr="127.0.0.31",
    db_addr="127.0.0.34",
    monitoring_addr="127.0.0.35",
    alertmanager_addr="127.0.0.36",
    pushgateway_addr="127.0.0.37",
    registry_addr="127.0.0.38",
    user=DEPLOY_USER,
    namespace=NAMESPACE,
    bastion=LabHost("bastion", BASTION_ADDR, ("bastion",), docker=False),
    bridges=(
        Bridge("ssh", BASTION_PUBLIC_ADDR, SSH_PORT, BASTION_ADDR, SSH_PORT),
        Bridge("http", LB_PUBLIC_ADDR, 80, "127.0.0.31", 80),
        Bridge("shop-http", LB_PUBLIC_ADDR, SHOP_LB_PORT, "127.0.0.31", SHOP_LB_PORT),
        Bridge("webhook", WEBHOOK_ADDR, WEBHOOK_PORT, WEBHOOK_ADDR, WEBHOOK_PORT, inward=False),
    ),
)
TOPOLOGIES = {FLAT.name: FLAT, BASTION.name: BASTION}
