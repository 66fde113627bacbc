"""PURE: where an SSH connection goes — the host and the bastion it goes through — and how to trust their keys.

`resolve` decides, for one inventory host, the endpoint to connect to and the jump host (or ProxyCommand)
in between, from hosts.yml and (when `ssh.config_file` is set) the user's OpenSSH config, passed in as
a lookup function (paramiko's `SSHConfig.lookup`, as Fabric uses it). Precedence, first that is set:

- a host: `hosts[].user`/`port`, then `ssh.user`/`ssh.port` when written in hosts.yml, then ssh_config's
  User/Port for the host's address, then the local user and 22. Key: `ssh.key_file` (only it, no agent),
  else ssh_config's IdentityFile (with the agent and default keys). The address is what ssh_config is
  looked up by; its HostName replaces it for the SSH connection only (health URLs and the upstream keep
  the address). Jump: `ssh.jump_host`, else ssh_config's ProxyJump (one hop), else its ProxyCommand.
- the bastion: the user and port written in the jump host (`user@host:port`) and `ssh.jump_key_file`,
  then ssh_config for the bastion's name, then `ssh.user`, 22 and `ssh.key_file`.

Host keys are always checked against `ssh.known_hosts`; StrictHostKeyChecking, UserKnownHostsFile and
ForwardAgent in ssh_config are not used.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ghosttasks.config.settings import parse_destination
from ghosttasks.domain.errors import ConfigError

if TYPE_CHECKING:
    from ghosttasks.config.inventory import Host
    from ghosttasks.config.settings import SSHSettings

DEFAULT_PORT = 22
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

Lookup = Callable[[str], Mapping[str, Any]]


def no_ssh_config(host: str) -> Mapping[str, Any]:
    """The lookup used when ssh.config_file is not set: nothing is configured for any host."""
    return {}


@dataclass(frozen=True)
class Endpoint:
    """One SSH server to connect to: where, as whom, with which keys."""

    host: str
    port: int = DEFAULT_PORT
    user: str | None = None  # None: the local user
    key_files: tuple[str, ...] = ()  # unexpanded (`~` allowed)
    only_keys: bool = False  # the keys come from hosts.yml: no agent, no default keys

    @property
    def where(self) -> str:
        """`host:port`, as messages name it."""
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name its key has in known_hosts (and in `ssh-keyscan` output): host, or [host]:port."""
        return known_hosts_name(self.host, self.port)

    @property
    def login(self) -> str:
        """`user@host` (`host` for the local user), as ssh takes it."""
        return f"{self.user}@{self.host}" if self.user else self.host


@dataclass(frozen=True)
class Route:
    """How to reach one host: the endpoint, and the bastion (or ProxyCommand) in between, if any."""

    target: Endpoint
    jump: Endpoint | None = None
    proxy_command: str | None = None


def known_hosts_name(host: str, port: int) -> str:
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def resolve(host: Host, ssh: SSHSettings, lookup: Lookup = no_ssh_config) -> Route:
    """The route to `host` (see the module docstring for what wins over what)."""
    found = lookup(host.address)
    user = host.user or ssh.user or found.get("user")
    if host.port:
        port = host.port
    elif ssh.explicit("port") or "port" not in found:
        port = ssh.port
    else:
        port = _port(found["port"], f"Port for {host.address}")
    target = Endpoint(found.get("hostname") or host.address, port, user, *_keys(ssh.key_file, found))
    jump_text, source = (ssh.jump_host, "ssh.jump_host") if ssh.jump_host else (found.get("proxyjump"), "ProxyJump")
    if jump_text and jump_text.lower() != "none":
        return Route(target, jump=_jump(jump_text, source, host.address, ssh, lookup))
    command = found.get("proxycommand")
    if command and command.lower() != "none":
        return Route(target, proxy_command=command)
    return Route(target)


def _jump(text: str, source: str, address: str, ssh: SSHSettings, lookup: Lookup) -> Endpoint:
    if "," in text:
        raise ConfigError(f"ssh_config: ProxyJump {text} for {address} has several hops; ghosttasks takes one")
    try:
        written = parse_destination(text)
    except ValueError as exc:
        where = "ssh.jump_host" if source == "ssh.jump_host" else f"ssh_config: ProxyJump for {address}"
        raise ConfigError(f"{where}: {exc}") from None
    found = lookup(written.host)
    port = written.port or _port(found.get("port", DEFAULT_PORT), f"Port for {written.host}")
    user = written.user or found.get("user") or ssh.user
    if ssh.jump_key_file:
        keys: tuple[tuple[str, ...], bool] = ((ssh.jump_key_file,), True)
    elif found.get("identityfile"):
        keys = _keys(None, found)
    else:
        keys = _keys(ssh.key_file, {})
    return Endpoint(found.get("hostname") or written.host, port, user, *keys)


def _keys(key_file: str | None, found: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    if key_file:
        return (key_file,), True
    return tuple(found.get("identityfile") or ()), False


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"ssh_config: {what} is {value!r}, not a port")
    return port


# -- trusting a host key --------------------------------------------------------------------------------
def keyscan(endpoint: Endpoint, known_hosts: str, *, via: Endpoint | None = None) -> str:
    """The command that appends `endpoint`'s host keys to known_hosts: ssh-keyscan, run on the bastion
    when there is one (a host behind it cannot be reached from here)."""
    scan = shlex.join(["ssh-keyscan", "-p", str(endpoint.port), endpoint.host])
    if via is not None:
        options = ["-p", str(via.port)]
        if via.only_keys and via.key_files:
            options += ["-i", via.key_files[0]]
        if known_hosts != DEFAULT_KNOWN_HOSTS:
            options += ["-o", f"UserKnownHostsFile={known_hosts}"]
        scan = f"{' '.join(_word(word) for word in ['ssh', *options, via.login])} {scan}"
    return f"{scan} >> {known_hosts}"


def _word(word: str) -> str:
    """Quoted for the shell, a leading ~/ left as it is (ssh expands it in -i and UserKnownHostsFile too)."""
    return "~/" + shlex.quote(word[2:]) if word.startswith("~/") else shlex.quote(word)


def trust_hint(endpoint: Endpoint, known_hosts: str, *, via: Endpoint | None = None) -> str:
    """How to trust an unknown host: the keyscan, after checking the fingerprint."""
    return f"to trust it: {keyscan(endpoint, known_hosts, via=via)} (after checking the fingerprint)"


def changed_key_hint(endpoint: Endpoint, known_hosts: str, *, via: Endpoint | None = None) -> str:
    """How to replace a changed key (a rebuilt host): remove the old one, then scan again."""
    remove = " ".join(_word(word) for word in ["ssh-keygen", "-R", endpoint.known_hosts_name, "-f", known_hosts])
    return (
        f"if the host was rebuilt, remove its old key ({remove}) and run {keyscan(endpoint, known_hosts, via=via)} "
        "(after checking the fingerprint)"
    )
