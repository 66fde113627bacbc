"""The lab's keys and every daemon's configuration: sshd per host, dockerd, the LB's nginx, Prometheus, Alertmanager.

Both topologies (lab/labctl/hosts.py) render the same templates; what differs is passed in: addresses,
who may log in (root with the lab's authorized_keys, or only deploy with its own), and whether the sshd
logs every forwarded channel (the bastion topology: one line per direct-tcpip channel, see SSHD_CHANNEL_LOG).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.labctl.commands import SYSTEM_PATH, run
from lab.labctl.files import render, write_file
from lab.labctl.hosts import (
    ALERTMANAGER_PORT,
    COLOR_PORTS,
    FLAT,
    PUSHGATEWAY_PORT,
    SHOP_COLOR_PORTS,
    SHOP_LB_PORT,
    SSH_PORT,
    WEBHOOK_ADDR,
    WEBHOOK_PORT,
    LabHost,
    Topology,
)
from lab.labctl.paths import Layout
from lab.labctl.registry import write_registry_config

METRICS_JOB = "ghostworks-api"
SHOP_METRICS_JOB = "shop-orders"
# OpenSSH 9.2 logs a forwarded (direct-tcpip) channel only at DEBUG1; LogVerbose raises exactly that one
# debug line ("server_request_direct_tcpip(): originator ..., target 127.0.0.32 port 8001") to the
# VERBOSE log, so the log says where every channel went without the rest of the debug output.
SSHD_CHANNEL_LOG = "serverloop.c:server_request_direct_tcpip():*"


def keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key pair without passphrase at path unless it exists; return the public key line."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run("ssh keys", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return Path(f"{path}.pub").read_text().strip()


def client_public_key(lay: Layout) -> str:
    """The public half of the operator's key (root on the flat hosts, deploy on the bastion topology's)."""
    return keygen(lay.key_file, "ghostlab-client")


def known_host_entries(lay: Layout, topo: Topology) -> list[dict]:
    """Every sshd's key at each name the operator's side uses for it (the bastion: its public address)."""
    entries = []
    for host in topo.ssh_hosts:
        public = " ".join(keygen(lay.host_key(host.name), f"ghostlab-{host.name}").split()[:2])
        if host is topo.bastion and topo.jump:
            addresses: tuple[str, ...] = (topo.jump[0],)
        else:
            addresses = host.listen
        entries += [{"address": address, "key": public} for address in addresses]
    return entries


def ensure_keys(lay: Layout, topo: Topology = FLAT) -> str:
    """The client key, one host key per lab host, authorized_keys, known_hosts and the ssh client config."""
    client = client_public_key(lay)
    write_file(lay.authorized_keys, client + "\n", 0o600)
    write_file(lay.known_hosts, render("known_hosts.j2", entries=known_host_entries(lay, topo), ssh_port=SSH_PORT))
    write_file(lay.ssh_config, _client_config(lay, topo))
    return str(lay.key_file)


def _client_config(lay: Layout, topo: Topology) -> str:
    hosts = [{"name": host.name, "address": host.address, "port": SSH_PORT} for host in topo.hosts]
    jump = None
    if topo.jump:
        jump = {"name": f"ghostlab-{topo.bastion.name}", "address": topo.jump[0], "port": topo.jump[1]}
    return render(
        "ssh_config.j2",
        topology=topo.name,
        hosts=hosts,
        jump=jump,
        user=topo.user,
        key_file=lay.key_file,
        known_hosts=lay.known_hosts,
    )


def session_env(lay: Layout, host: LabHost) -> dict[str, str]:
    """What sshd sets in every session on a lab host (SetEnv)."""
    env = {"SHLVL": "1", "PATH": f"{lay.lb2_bin}:{SYSTEM_PATH}" if host.own_lb_dir else SYSTEM_PATH}
    return env | (lay.docker_env(host.name) if host.docker else {})


def write_configs(lay: Layout, topo: Topology = FLAT) -> set[str]:
    """Render every daemon's configuration; return the names of daemons whose configuration changed."""
    changed: set[str] = set()
    for host in topo.ssh_hosts:
        if _write_sshd_config(lay, topo, host):
            changed.add(f"sshd-{host.name}")
    for host in topo.docker_hosts:
        write_file(lay.docker_dir(host.name) / "daemon.json", render("daemon.json.j2"))
    if _write_nginx_config(lay, topo, topo.lb_addr, lay.lb_dir):
        changed.add("nginx-lb")
    for host in topo.hosts:
        if host.own_lb_dir and _write_nginx_config(lay, topo, host.address, lay.lb2_view):
            changed.add(f"nginx-{host.name}")
    if _write_prometheus_config(lay, topo):
        changed.add("prometheus")
    if write_file(lay.alertmanager_config, alertmanager_config(topo)):
        changed.add("alertmanager")
    amtool = shutil.which("amtool", path=SYSTEM_PATH)
    if amtool:
        run("alertmanager config", [amtool, "check-config", str(lay.alertmanager_config)])
    write_registry_config(lay, topo)  # written once per lab root: the registry is never signalled
    return changed


def _write_sshd_config(lay: Layout, topo: Topology, host: LabHost) -> bool:
    if topo.user == "root":
        login = {"permit_root": "prohibit-password", "allow_users": None, "strict_modes": "no"}
        login |= {"authorized_keys": str(lay.authorized_keys), "channel_log": None, "forwarding": None}
    else:
        # Only the deploy user, with the key in its own home; every forwarded channel is logged.
        login = {"permit_root": "no", "allow_users": topo.user, "strict_modes": "yes"}
        login |= {"authorized_keys": ".ssh/authorized_keys", "channel_log": SSHD_CHANNEL_LOG, "forwarding": "local"}
    text = render(
        "sshd_config.j2",
        host=host,
        ssh_port=SSH_PORT,
        host_key=lay.host_key(host.name),
        pid_file=lay.host_dir(host.name) / "sshd.pid",
        login=login,
        session_env=session_env(lay, host),
    )
    return write_file(lay.sshd_config(host.name), text)


def _write_nginx_config(lay: Layout, topo: Topology, address: str, base: Path) -> bool:
    """The LB's nginx.conf and first files for the nginx listening on `address`, written under `base`: lb_dir for the
    LB, lb2_view for the second LB, whose daemons see it at lb_dir (every path in the files is lb_dir's)."""

    def at(path: Path) -> Path:
        return base / path.relative_to(lay.lb_dir)

    temp_dir = lay.lb_dir / "tmp"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        at(temp_dir / sub).mkdir(parents=True, exist_ok=True)
    at(lay.lb_state_dir).mkdir(parents=True, exist_ok=True)
    if not at(lay.upstream_path).exists():
        names = [f"ghostworks_{service}_{color}" for service in ("api", "web") for color in ("blue", "green")]
        placeholder = render("upstream-placeholder.conf.j2", upstreams=names, closed=f"{address}:9")
        write_file(at(lay.upstream_path), placeholder)
    if not at(lay.selector_path).exists():
        write_file(at(lay.selector_path), render("selector-placeholder.inc.j2", variable="ghostworks_color"))
    if not at(lay.shop_upstream_path).exists():
        names = [f"shop_{service}_{color}" for service in ("orders", "storefront") for color in ("blue", "green")]
        placeholder = render("upstream-placeholder.conf.j2", upstreams=names, closed=f"{address}:9")
        write_file(at(lay.shop_upstream_path), placeholder)
    if not at(lay.shop_selector_path).exists():
        write_file(at(lay.shop_selector_path), render("selector-placeholder.inc.j2", variable="shop_color"))
    at(lay.shop_state_dir).mkdir(parents=True, exist_ok=True)
    cert, key = lab_certificate(lay, address)
    if base != lay.lb_dir:  # the second LB's own copy of its certificate, at the path its nginx reads
        at(lay.tls_dir).mkdir(parents=True, exist_ok=True)
        for path in (cert, key):
            write_file(at(path), path.read_text(), 0o600)
    text = render(
        "nginx.conf.j2",
        tls={"port": LB_TLS_PORT, "cert": cert, "key": key},
        address=address,
        conf=lay.nginx_conf,
        pid_file=lay.lb_dir / "nginx.pid",
        error_log=lay.lb_dir / "error.log",
        access_log=lay.lb_dir / "access.log",
        temp_dir=temp_dir,
        upstream_path=lay.upstream_path,
        selector_path=lay.selector_path,
        shop={"upstream_path": lay.shop_upstream_path, "selector_path": lay.shop_selector_path, "port": SHOP_LB_PORT},
    )
    return write_file(at(lay.nginx_conf), text)


#: The LB's https port (the same server as port 80, TLS terminated with a certificate of the lab CA).
LB_TLS_PORT = 443


def lab_certificate(lay: Layout, address: str) -> tuple[Path, Path]:
    """The lab CA (made once per lab root with openssl) and a certificate it signs for `address` (IP SAN),
    for nginx's https server; returns (certificate, key). A private CA: no trust store knows it."""
    tls = lay.tls_dir
    tls.mkdir(parents=True, exist_ok=True)
    ca_key, ca = tls / "ca.key", lay.lab_ca
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    if not ca.exists():
        argv = ["openssl", "req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca), "-days", "3650"]
        run("lab CA", [*argv, "-subj", "/O=ghostlab/CN=Ghostlab Lab CA"])
    cert, key = tls / f"lb-{address}.pem", tls / f"lb-{address}.key"
    if not cert.exists():
        csr, ext = tls / f"lb-{address}.csr", tls / f"lb-{address}.ext"
        write_file(
            ext,
            f"subjectAltName=IP:{address}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n",
        )
        request = ["openssl", "req", "-new", *curve, "-keyout", str(key), "-out", str(csr)]
        run("LB key", [*request, "-subj", f"/CN={address}"])
        sign = ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial"]
        run("LB certificate", [*sign, "-out", str(cert), "-days", "825", "-extfile", str(ext)])
    return cert, key


def prometheus_targets(topo: Topology = FLAT) -> list[dict]:
    """Both colours' api /metrics on both app hosts, with their color and host labels."""
    return [
        {"address": host.address, "port": ports["api"], "color": color, "host": host.name}
        for host in topo.app_hosts
        for color, ports in COLOR_PORTS.items()
    ]


def shop_prometheus_targets(topo: Topology = FLAT) -> list[dict]:
    """The second app's orders /metrics, both colours on both app hosts, with their color and host labels."""
    return [
        {"address": host.address, "port": ports["orders"], "color": color, "host": host.name}
        for host in topo.app_hosts
        for color, ports in SHOP_COLOR_PORTS.items()
    ]


def _write_prometheus_config(lay: Layout, topo: Topology) -> bool:
    (lay.monitoring_dir / "data").mkdir(parents=True, exist_ok=True)
    rules = render("rules.yml.j2", job=METRICS_JOB, error_rate=0.10, p95_seconds=2.0, down_for="10s")
    config = render(
        "prometheus.yml.j2",
        address=topo.monitoring_addr,
        interval="2s",
        timeout="1s",
        rules_file=lay.prometheus_rules,
        job=METRICS_JOB,
        targets=prometheus_targets(topo),
        shop_job=SHOP_METRICS_JOB,
        shop_targets=shop_prometheus_targets(topo),
        alertmanager=f"{topo.alertmanager_addr}:{ALERTMANAGER_PORT}",
        pushgateway=f"{topo.pushgateway_addr}:{PUSHGATEWAY_PORT}",
    )
    changed = write_file(lay.prometheus_rules, rules)
    changed = write_file(lay.prometheus_config, config) or changed
    promtool = shutil.which("promtool", path=SYSTEM_PATH)
    if promtool:
        run("prometheus config", [promtool, "check", "config", "--syntax-only", str(lay.prometheus_config)])
    return changed


def alertmanager_receivers(webhook: str = f"http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}") -> list[dict]:
    """The lab's two receivers: paths of the webhook receiver (a test may point one at a closed port)."""
    return [{"name": "oncall", "url": f"{webhook}/oncall"}, {"name": "escalation", "url": f"{webhook}/escalation"}]


def alertmanager_config(topo: Topology, receivers: list[dict] | None = None) -> str:
    """alertmanager.yml: the route tree (critical: on-call, then escalation) with short lab wait times."""
    return render(
        "alertmanager.yml.j2",
        address=f"{topo.alertmanager_addr}:{ALERTMANAGER_PORT}",
        group_wait="1s",
        group_interval="5s",
        escalation_wait="2s",
        receivers=receivers or alertmanager_receivers(),
    )
