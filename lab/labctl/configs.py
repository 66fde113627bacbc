"""The lab's keys and every daemon's configuration: sshd per host, dockerd, the LB's nginx, Prometheus."""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.labctl.commands import SYSTEM_PATH, run
from lab.labctl.files import render, write_file
from lab.labctl.hosts import APP_HOSTS, COLOR_PORTS, HOSTS, LB_ADDR, MONITORING_ADDR, SSH_PORT, LabHost
from lab.labctl.paths import Layout

METRICS_JOB = "ghostworks-api"


def keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key pair without passphrase at path unless it exists; return the public key line."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run("ssh keys", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return Path(f"{path}.pub").read_text().strip()


def ensure_keys(lay: Layout) -> str:
    """The client key, one host key per lab host, authorized_keys and known_hosts."""
    client = keygen(lay.key_file, "ghostlab-client")
    entries = []
    for host in HOSTS:
        public = " ".join(keygen(lay.host_key(host.name), f"ghostlab-{host.name}").split()[:2])
        entries += [{"address": address, "key": public} for address in host.listen]
    write_file(lay.authorized_keys, client + "\n", 0o600)
    write_file(lay.known_hosts, render("known_hosts.j2", entries=entries, ssh_port=SSH_PORT))
    return str(lay.key_file)


def session_env(lay: Layout, host: LabHost) -> dict[str, str]:
    """What sshd sets in every session on a lab host (SetEnv)."""
    env = {"SHLVL": "1", "PATH": SYSTEM_PATH}
    return env | (lay.docker_env(host.name) if host.docker else {})


def write_configs(lay: Layout) -> set[str]:
    """Render every daemon's configuration; return the names of daemons whose configuration changed."""
    changed: set[str] = set()
    for host in HOSTS:
        if _write_sshd_config(lay, host):
            changed.add(f"sshd-{host.name}")
        if host.docker:
            write_file(lay.docker_dir(host.name) / "daemon.json", render("daemon.json.j2"))
    if _write_nginx_config(lay):
        changed.add("nginx-lb")
    if _write_prometheus_config(lay):
        changed.add("prometheus")
    return changed


def _write_sshd_config(lay: Layout, host: LabHost) -> bool:
    text = render(
        "sshd_config.j2",
        host=host,
        ssh_port=SSH_PORT,
        host_key=lay.host_key(host.name),
        pid_file=lay.host_dir(host.name) / "sshd.pid",
        authorized_keys=lay.authorized_keys,
        session_env=session_env(lay, host),
    )
    return write_file(lay.sshd_config(host.name), text)


def _write_nginx_config(lay: Layout) -> bool:
    temp_dir = lay.lb_dir / "tmp"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp_dir / sub).mkdir(parents=True, exist_ok=True)
    lay.lb_state_dir.mkdir(parents=True, exist_ok=True)
    if not lay.upstream_path.exists():
        placeholder = render(
            "upstream-placeholder.conf.j2", upstreams=["ghostworks_api", "ghostworks_web"], closed=f"{LB_ADDR}:9"
        )
        write_file(lay.upstream_path, placeholder)
    text = render(
        "nginx.conf.j2",
        address=LB_ADDR,
        conf=lay.nginx_conf,
        pid_file=lay.lb_dir / "nginx.pid",
        error_log=lay.lb_dir / "error.log",
        access_log=lay.lb_dir / "access.log",
        temp_dir=temp_dir,
        upstream_path=lay.upstream_path,
    )
    return write_file(lay.nginx_conf, text)


def prometheus_targets() -> list[dict]:
    """Both colours' api /metrics on both app hosts, with their color and host labels."""
    return [
        {"address": host.address, "port": ports["api"], "color": color, "host": host.name}
        for host in APP_HOSTS
        for color, ports in COLOR_PORTS.items()
    ]


def _write_prometheus_config(lay: Layout) -> bool:
    (lay.monitoring_dir / "data").mkdir(parents=True, exist_ok=True)
    rules = render("rules.yml.j2", job=METRICS_JOB, error_rate=0.10, p95_seconds=2.0, down_for="10s")
    config = render(
        "prometheus.yml.j2",
        address=MONITORING_ADDR,
        interval="2s",
        timeout="1s",
        rules_file=lay.prometheus_rules,
        job=METRICS_JOB,
        targets=prometheus_targets(),
    )
    changed = write_file(lay.prometheus_rules, rules)
    changed = write_file(lay.prometheus_config, config) or changed
    promtool = shutil.which("promtool", path=SYSTEM_PATH)
    if promtool:
        run("prometheus config", [promtool, "check", "config", "--syntax-only", str(lay.prometheus_config)])
    return changed
