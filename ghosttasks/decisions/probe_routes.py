"""PURE: which way an HTTP probe travels — direct from this machine, or through an SSH channel.

The operator's machine may reach only the bastion's SSH port and the LB's public URL. So:

- public URLs (`lb.public_url`, `app.public_health_url`) always go direct: they are what users reach;
- every other URL is internal (the app hosts' health and smoke URLs, Prometheus, anything at a host's
  address). With `probes.via: ssh` (or `auto` and an `ssh.jump_host`) it goes through a direct-tcpip
  channel of the run's SSH connections (ghosttasks.execution.tunnels), else direct;
- the channel is opened on the connection to the inventory host at that address (another host's when no
  host has it: the monitoring host, else the LB, else the first host). With a jump host, the jump host
  opens the TCP connection at the far end (Fabric's gateway connection carries the channel): it is the
  one machine that is in the private network by definition, and it reaches addresses that are no
  inventory host (Prometheus). Without one, the host's own sshd connects to its own address.

Webhooks (ghosttasks.observability.notify) are external and never come here: they always go direct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ghosttasks.config.inventory import Environment, Host

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class ProbeRoute:
    """How one probe travels: direct, or through a channel of `carrier`'s SSH connection."""

    carrier: Host | None = None  # the host whose SSH connection carries the channel; None: direct
    through: str | None = None  # the machine that opens the TCP connection at the far end

    @property
    def ssh(self) -> bool:
        return self.carrier is not None

    def describe(self) -> str:
        """`direct` or `via SSH (<machine>)`, as dry-run plans print it after the URL."""
        return f"via SSH ({self.through})" if self.carrier is not None else "direct"


def through_ssh(env: Environment) -> bool:
    """Internal probes go through SSH: `probes.via: ssh`, or `auto` with a jump host (`ssh.jump_host`, or an
    `ssh.config_file`, whose ProxyJump may put the hosts behind one)."""
    via = env.probes.via
    return via == "ssh" or (via == "auto" and bool(env.ssh.jump_host or env.ssh.config_file))


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port filled in from the scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 80)


def is_public(env: Environment, url: str) -> bool:
    """The URL is one of the public ones (the LB's, the public health URL): reachable from anywhere."""
    public = [env.lb.public_url if env.lb else None, env.app.public_health_url]
    return origin(url) in {origin(address) for address in public if address}


def route(env: Environment, url: str) -> ProbeRoute:
    """The way a probe to `url` goes (see the module docstring)."""
    if is_public(env, url) or not through_ssh(env):
        return ProbeRoute()
    return route_to(env, origin(url)[1])


def route_to(env: Environment, address: str) -> ProbeRoute:
    """The way to an internal address when internal probes go through SSH."""
    matching = [host for host in env.hosts if host.address.lower() == address.lower()]
    if matching and matching[0].local:
        return ProbeRoute()  # this machine: nothing to tunnel through
    jump = jump_name(env)
    candidates = matching or [*env.hosts_with("monitoring"), *env.hosts_with("lb"), *env.hosts]
    carrier = next((host for host in candidates if not host.local), None)
    if carrier is None:
        return ProbeRoute()
    # With a jump host it opens the far end; else the carrier's own sshd does (an address no host has,
    # such as Prometheus: the monitoring host's, else the LB's sshd, inside the same network).
    return ProbeRoute(carrier, jump or carrier.name)


def way(env: Environment, url: str) -> str:
    """`direct` or `via SSH (<machine>)` for a probe to `url`."""
    return route(env, url).describe()


def jump_name(env: Environment) -> str | None:
    """The jump host as plans name it: the host of `ssh.jump_host` (`[user@]host[:port]`)."""
    if not env.ssh.jump_host:
        return None
    host = env.ssh.jump_host.rpartition("@")[2]
    if host.startswith("["):  # [IPv6]:port
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host
