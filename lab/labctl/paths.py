"""Where everything of the lab lives: its root and cache, and every path under the root (Layout)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lab.labctl.errors import LabError
from lab.labctl.hosts import SSH_PORT

LAB_DIR = Path(__file__).resolve().parent.parent
REPO = LAB_DIR.parent
DEFAULT_ROOT = "/var/lib/ghostlab"
DEFAULT_CACHE = "/var/cache/ghostlab"
SAFE_PATH = re.compile(r"/[A-Za-z0-9_./-]*")


def lab_root() -> Path:
    """The lab root: $GHOSTLAB_ROOT or /var/lib/ghostlab (absolute, no spaces or shell characters)."""
    root = os.environ.get("GHOSTLAB_ROOT") or DEFAULT_ROOT
    if not SAFE_PATH.fullmatch(root) or root.rstrip("/") in ("", "/"):
        raise LabError(f"lab root: {root!r} must be an absolute path of letters, digits, '_', '.', '-', '/'")
    return Path(root.rstrip("/"))


def cache_dir() -> Path:
    """Where the base image tarball is cached across labs: $GHOSTLAB_CACHE or /var/cache/ghostlab."""
    return Path(os.environ.get("GHOSTLAB_CACHE") or DEFAULT_CACHE)


@dataclass(frozen=True)
class Layout:
    """Every path of one lab, derived from its root."""

    root: Path

    @property
    def run_dir(self) -> Path:
        """The daemons' PID files."""
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        """The daemons' output (and the base image build's)."""
        return self.root / "log"

    @property
    def ssh_dir(self) -> Path:
        """The client key, authorized_keys and known_hosts."""
        return self.root / "ssh"

    @property
    def key_file(self) -> Path:
        """The client's private key (root on every lab host)."""
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every lab host's key at each of its addresses."""
        return self.ssh_dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        """The client key, shared by every lab sshd."""
        return self.ssh_dir / "authorized_keys"

    @property
    def origin(self) -> Path:
        """The bare origin repository of the demo app."""
        return self.root / "origin" / "ghostworks.git"

    @property
    def secrets_file(self) -> Path:
        """The marker secret values (mode 0600)."""
        return self.root / "secrets.json"

    @property
    def topology_file(self) -> Path:
        """Which topology this lab root holds ('flat' when the file is missing: labs from before topologies)."""
        return self.root / "topology"

    @property
    def ssh_config(self) -> Path:
        """An OpenSSH client config with one Host per lab host (bastion topology: ProxyJump through it)."""
        return self.ssh_dir / "config"

    @property
    def bridge_dir(self) -> Path:
        """The unix sockets of the socat pairs that bridge the operator's side into the namespace (0700)."""
        return self.root / "bridge"

    def bridge_socket(self, name: str) -> Path:
        """The unix socket of one bridge ('ssh', 'http')."""
        return self.bridge_dir / f"{name}.sock"

    def home(self, user: str) -> Path:
        """The home directory of a lab user (the bastion topology's deploy user)."""
        return self.root / "home" / user

    @property
    def bin_dir(self) -> Path:
        """Binaries the lab ships to its hosts (the compose plugin)."""
        return self.root / "bin"

    def host_dir(self, name: str) -> Path:
        """Everything of one lab host."""
        return self.root / name

    def sshd_config(self, name: str) -> Path:
        """The sshd configuration of a host."""
        return self.host_dir(name) / "sshd_config"

    def host_key(self, name: str) -> Path:
        """The private host key of a host's sshd."""
        return self.host_dir(name) / "ssh_host_ed25519_key"

    def sshd_log(self, name: str) -> Path:
        """The sshd log of a host (LogLevel VERBOSE: one 'Connection from' line per connection)."""
        return self.host_dir(name) / "sshd.log"

    def docker_dir(self, name: str) -> Path:
        """A host's dockerd: daemon.json, data root, exec root, PID file."""
        return self.host_dir(name) / "docker"

    def docker_sock(self, name: str) -> Path:
        """The socket of a host's dockerd."""
        return self.host_dir(name) / "docker.sock"

    def docker_config(self, name: str) -> Path:
        """The DOCKER_CONFIG of a host (with the compose plugin in cli-plugins/)."""
        return self.docker_dir(name) / "config"

    def docker_env(self, name: str) -> dict[str, str]:
        """DOCKER_HOST and DOCKER_CONFIG that talk to this host's own engine."""
        return {"DOCKER_HOST": f"unix://{self.docker_sock(name)}", "DOCKER_CONFIG": str(self.docker_config(name))}

    def app_dir(self, name: str) -> Path:
        """The git checkout of the demo app on a host (or of the dev/staging environment)."""
        return self.host_dir(name) / "ghostworks"

    def releases_dir(self, name: str) -> Path:
        """The per-version worktrees of a blue-green app host."""
        return self.host_dir(name) / "releases"

    def backup_dir(self, name: str) -> Path:
        """The database backups of a db host (or of the dev/staging environment)."""
        return self.host_dir(name) / "backups"

    @property
    def lb_dir(self) -> Path:
        """Everything of the LB host's nginx."""
        return self.host_dir("lb")

    @property
    def nginx_conf(self) -> Path:
        """The LB's nginx.conf (nginx -c)."""
        return self.lb_dir / "nginx.conf"

    @property
    def upstream_path(self) -> Path:
        """The upstream file that ghosttasks renders and nginx includes."""
        return self.lb_dir / "upstream.conf"

    @property
    def selector_path(self) -> Path:
        """The server-level selector snippet ghosttasks renders beside the upstream (its default lb.selector_path)."""
        return self.lb_dir / "ghostworks-selector.inc"

    @property
    def tls_dir(self) -> Path:
        """The lab CA (openssl) and the LB's certificate it signed, for nginx's https server."""
        return self.lb_dir / "tls"

    @property
    def lab_ca(self) -> Path:
        """The lab CA's certificate (PEM): what probes.ca_file names for the https public URL."""
        return self.tls_dir / "ca.pem"

    @property
    def lb2_view(self) -> Path:
        """The second LB's (lb2's) own files: bound over lb_dir in its daemons' mount namespace, so its nginx and
        every SSH session on it see them at the LB's paths (its flag: lb2_view / "state" / ...)."""
        return self.host_dir("lb2") / "lb"

    def in_lb2_view(self, path: Path) -> Path:
        """Where a path under lb_dir really is for lb2 (as this machine sees it)."""
        return self.lb2_view / path.relative_to(self.lb_dir)

    @property
    def lb2_bin(self) -> Path:
        """First on the PATH of every SSH session on lb2 (empty unless a test puts a wrapper there)."""
        return self.host_dir("lb2") / "bin"

    @property
    def lb_state_dir(self) -> Path:
        """The deploy state, history and lock on the LB host."""
        return self.lb_dir / "state"

    # The second app (lab/app2, "the shop", environment `shop`): its own origin, clones, releases, backups and
    # LB files beside the demo's.
    @property
    def shop_origin(self) -> Path:
        """The bare origin repository of the second app."""
        return self.root / "origin" / "shop.git"

    def shop_dir(self, name: str) -> Path:
        """The git checkout of the second app on a host."""
        return self.host_dir(name) / "shop"

    def shop_releases_dir(self, name: str) -> Path:
        """The second app's per-version worktrees on an app host."""
        return self.host_dir(name) / "shop-releases"

    @property
    def shop_backup_dir(self) -> Path:
        """The second app's database backups on the db host."""
        return self.host_dir("db") / "shop-backups"

    @property
    def shop_upstream_path(self) -> Path:
        """The second app's upstream file (lb.upstream_path of the shop environment)."""
        return self.lb_dir / "shop-upstream.conf"

    @property
    def shop_selector_path(self) -> Path:
        """The second app's selector snippet, included by the LB's second server."""
        return self.lb_dir / "shop-selector.inc"

    @property
    def shop_state_dir(self) -> Path:
        """The second app's deploy state, history, lock and colour flag."""
        return self.lb_dir / "shop-state"

    @property
    def monitoring_dir(self) -> Path:
        """Prometheus' configuration, rules and data."""
        return self.host_dir("monitoring")

    @property
    def prometheus_config(self) -> Path:
        """prometheus.yml."""
        return self.monitoring_dir / "prometheus.yml"

    @property
    def prometheus_rules(self) -> Path:
        """The alert rules (the runbook's rollback triggers)."""
        return self.monitoring_dir / "rules.yml"

    @property
    def alertmanager_config(self) -> Path:
        """alertmanager.yml: the route tree to the webhook receiver's /oncall and /escalation."""
        return self.monitoring_dir / "alertmanager.yml"

    @property
    def registry_dir(self) -> Path:
        """The docker registry: config.yml, htpasswd, data/ (its storage)."""
        return self.root / "registry"

    @property
    def registry_password_file(self) -> Path:
        """The registry password on the operator's side (mode 0600), named by the inventory's images.password_file."""
        return self.root / "operator" / "registry-password"

    @property
    def webhook_events(self) -> Path:
        """What the webhook receiver recorded (JSON lines)."""
        return self.host_dir("webhook") / "events.jsonl"

    def pid_file(self, daemon: str) -> Path:
        """The PID file of a lab daemon."""
        return self.run_dir / f"{daemon}.pid"

    def daemon_log(self, daemon: str) -> Path:
        """The output of a lab daemon."""
        return self.log_dir / f"{daemon}.log"

    def ssh_argv(self, address: str) -> list[str]:
        """An ssh command line for root at a lab address (append the remote command)."""
        return [
            "ssh",
            "-i",
            str(self.key_file),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            str(SSH_PORT),
            f"root@{address}",
        ]

    def ssh_host_argv(self, host: str) -> list[str]:
        """An ssh command line for a lab host by its name in lab/ssh/config (append the remote command)."""
        return ["ssh", "-F", str(self.ssh_config), host]


def layout() -> Layout:
    """The Layout of the current lab root."""
    return Layout(lab_root())
