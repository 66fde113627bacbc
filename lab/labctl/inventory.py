"""The lab's own inventories, checked by ghosttasks' loader:

- lab/hosts.yml (flat topology): dev, staging and prod on the lab's hosts, entered as root;
- lab/hosts-bastion.yml (bastion topology): prod only, entered as deploy through the bastion, sudo on the
  LB, probes through SSH, the LB's public URL on the operator's side.

Both also hold `shop`: the lab's second app (lab/app2) blue-green on the same hosts, with its own dirs, ports
and LB server (lab/templates/shop-env.yml.j2).
"""

from __future__ import annotations

from pathlib import Path

from lab.labctl.errors import LabError
from lab.labctl.files import render, write_file
from lab.labctl.hosts import (
    ALERTMANAGER_PORT,
    COLOR_PORTS,
    DEV_ADDR,
    DEV_ENGINE,
    FLAT,
    PROMETHEUS_PORT,
    PUSHGATEWAY_PORT,
    REGISTRY_PORT,
    REGISTRY_USER,
    SHOP_COLOR_PORTS,
    SSH_PORT,
    STAGING_ADDR,
    WEBHOOK_ADDR,
    WEBHOOK_PORT,
    Topology,
)
from lab.labctl.paths import LAB_DIR, Layout

INVENTORY = LAB_DIR / "hosts.yml"
INVENTORIES = {"flat": INVENTORY, "bastion": LAB_DIR / "hosts-bastion.yml"}
TEMPLATES = {"flat": "hosts.yml.j2", "bastion": "hosts-bastion.yml.j2"}


def inventory_path(topo: Topology = FLAT) -> Path:
    """The inventory file a topology writes (GHOST_INVENTORY for the lab tests)."""
    return INVENTORIES[topo.name]


def inventory_context(lay: Layout, topo: Topology = FLAT) -> dict:
    """Everything lab/templates/hosts.yml.j2 (or hosts-bastion.yml.j2) needs."""
    from ghosttasks.config.settings import RUNBOOK_REQUIRED_ENV

    lb_host = next(host for host in topo.hosts if "lb" in host.roles)
    prod_hosts = [{"name": "lb", "address": lb_host.address, "roles": ["lb"], "app_dir": None, "releases_dir": None}]
    for host in topo.app_hosts:
        prod_hosts.append(
            {
                "name": host.name,
                "address": host.address,
                "roles": ["app"],
                "app_dir": lay.app_dir(host.name),
                "releases_dir": lay.releases_dir(host.name),
            }
        )
    prod_hosts.append(
        {"name": "db", "address": topo.db_addr, "roles": ["db"], "app_dir": lay.app_dir("db"), "releases_dir": None}
    )
    context = {
        "root": lay.root,
        "origin": lay.origin,
        "alembic": "python3 -m alembic",
        "seed_command": "python3 scripts/seed_demo_data.py",
        "required_env": RUNBOOK_REQUIRED_ENV,
        "color_ports": COLOR_PORTS,
        "ssh": {"user": topo.user, "port": SSH_PORT, "key_file": lay.key_file, "known_hosts": lay.known_hosts},
        "prod": {
            "hosts": prod_hosts,
            "app_dir": lay.app_dir("db"),
            "releases_dir": lay.releases_dir(topo.app_hosts[0].name),
            "backup_dir": lay.backup_dir("db"),
        },
        "lb": {
            "upstream_path": lay.upstream_path,
            "nginx_conf": lay.nginx_conf,
            "public_url": topo.public_url,
            "state_dir": lay.lb_state_dir,
            "sudo": topo.user != "root",
        },
        "monitoring": {
            "url": f"http://{topo.monitoring_addr}:{PROMETHEUS_PORT}",
            "alertmanager_url": f"http://{topo.alertmanager_addr}:{ALERTMANAGER_PORT}",
            "pushgateway_url": f"http://{topo.pushgateway_addr}:{PUSHGATEWAY_PORT}",
            "interval_seconds": 2,
        },
        "monitor_minutes": 0.5,
        "images": {
            "registry": f"{topo.registry_addr}:{REGISTRY_PORT}/ghostlab",
            "build_host": topo.app_hosts[0].name,
            "username": REGISTRY_USER,
            "password_file": lay.registry_password_file,
        },
        "notify": {
            "webhook_url": f"http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/deployments",
            "incident_url": f"http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/incidents",
        },
    }
    context["shop"] = shop_context(lay, topo)
    if topo.jump:
        address, port = topo.jump
        context |= {"namespace": topo.namespace, "jump_host": f"{topo.user}@{address}:{port}"}
    else:
        context |= {
            "dev": {
                "address": DEV_ADDR,
                "engine": DEV_ENGINE,
                "docker_env": lay.docker_env(DEV_ENGINE),
                "app_dir": lay.app_dir("dev"),
                "backup_dir": lay.backup_dir("dev"),
            },
            "staging": {
                "address": STAGING_ADDR,
                "app_dir": lay.app_dir("staging"),
                "backup_dir": lay.backup_dir("staging"),
            },
        }
    return context


def shop_context(lay: Layout, topo: Topology) -> dict:
    """The second app's environment (lab/templates/shop-env.yml.j2): the same hosts, its own dirs and LB paths."""
    lb_host = next(host for host in topo.hosts if "lb" in host.roles)
    hosts = [{"name": "lb", "address": lb_host.address, "roles": ["lb"], "app_dir": None, "releases_dir": None}]
    hosts += [
        {
            "name": host.name,
            "address": host.address,
            "roles": ["app"],
            "app_dir": lay.shop_dir(host.name),
            "releases_dir": lay.shop_releases_dir(host.name),
        }
        for host in topo.app_hosts
    ]
    hosts.append(
        {"name": "db", "address": topo.db_addr, "roles": ["db"], "app_dir": lay.shop_dir("db"), "releases_dir": None}
    )
    return {
        "hosts": hosts,
        "origin": lay.shop_origin,
        "app_dir": lay.shop_dir("db"),
        "releases_dir": lay.shop_releases_dir(topo.app_hosts[0].name),
        "backup_dir": lay.shop_backup_dir,
        "color_ports": SHOP_COLOR_PORTS,
        "upstream_path": lay.shop_upstream_path,
        "selector_path": lay.shop_selector_path,
        "state_dir": lay.shop_state_dir,
        "public_url": topo.shop_public_url,
    }


def write_inventory(lay: Layout, topo: Topology = FLAT) -> str:
    """Render the topology's inventory (and a copy in the lab root) and validate it with ghosttasks' loader."""
    from ghosttasks.config.inventory import load_inventory
    from ghosttasks.domain.errors import ConfigError

    path = inventory_path(topo)
    text = render(TEMPLATES[topo.name], **inventory_context(lay, topo))
    write_file(path, text)
    write_file(lay.root / path.name, text)
    try:
        inventory = load_inventory(path)
    except ConfigError as exc:
        raise LabError(f"inventory: {exc}") from None
    return f"{path} ({', '.join(inventory.environments)})"
