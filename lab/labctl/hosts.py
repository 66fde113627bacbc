"""The lab's hosts: one loopback address each (sshd, dockerd unless docker=False), and every address and port."""

from __future__ import annotations

from dataclasses import dataclass

SSH_PORT = 2222
COLOR_PORTS = {"blue": {"api": 8001, "web": 3001}, "green": {"api": 8002, "web": 3002}}
LB_ADDR = "127.0.0.10"
DB_ADDR = "127.0.0.13"
MONITORING_ADDR = "127.0.0.14"
PROMETHEUS_PORT = 9090
WEBHOOK_ADDR = "127.0.0.15"
WEBHOOK_PORT = 8080
DEV_ADDR = "127.0.0.16"
STAGING_ADDR = "127.0.0.17"
DEV_ENGINE = "app1"


@dataclass(frozen=True)
class LabHost:
    """One lab "machine": a loopback address with its own sshd (and dockerd unless docker=False)."""

    name: str
    address: str
    roles: tuple[str, ...]
    docker: bool = True
    extra_addresses: tuple[str, ...] = ()

    @property
    def listen(self) -> tuple[str, ...]:
        """Every address its sshd listens on."""
        return (self.address, *self.extra_addresses)


HOSTS = (
    LabHost("lb", LB_ADDR, ("lb",), docker=False),
    LabHost("app1", "127.0.0.11", ("app",)),
    LabHost("app2", "127.0.0.12", ("app",)),
    LabHost("db", DB_ADDR, ("db",), extra_addresses=(STAGING_ADDR,)),
)
APP_HOSTS = tuple(host for host in HOSTS if "app" in host.roles)
DOCKER_HOSTS = tuple(host for host in HOSTS if host.docker)
