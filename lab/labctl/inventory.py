"""The lab's own inventory: lab/hosts.yml with dev, staging and prod on the lab's hosts, checked by ghosttasks."""

from __future__ import annotations

from lab.labctl.errors import LabError
from lab.labctl.files import render, write_file
from lab.labctl.hosts import (
    APP_HOSTS,
    COLOR_PORTS,
    DB_ADDR,
    DEV_ADDR,
    DEV_ENGINE,
    LB_ADDR,
    MONITORING_ADDR,
    PROMETHEUS_PORT,
    SSH_PORT,
    STAGING_ADDR,
    WEBHOOK_ADDR,
    WEBHOOK_PORT,
)
from lab.labctl.paths import LAB_DIR, Layout

INVENTORY = LAB_DIR / "hosts.yml"


def inventory_context(lay: Layout) -> dict:
    """Everything lab/templates/hosts.yml.j2 needs."""
    from ghosttasks.settings import RUNBOOK_REQUIRED_ENV

    prod_hosts = [{"name": "lb", "address": LB_ADDR, "roles": ["lb"], "app_dir": None, "releases_dir": None}]
    for host in APP_HOSTS:
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
        {"name": "db", "address": DB_ADDR, "roles": ["db"], "app_dir": lay.app_dir("db"), "releases_dir": None}
    )
    return {
        "root": lay.root,
        "origin": lay.origin,
        "alembic": "python3 -m alembic",
        "seed_command": "python3 scripts/seed_demo_data.py",
        "required_env": RUNBOOK_REQUIRED_ENV,
        "color_ports": COLOR_PORTS,
        "ssh": {"user": "root", "port": SSH_PORT, "key_file": lay.key_file, "known_hosts": lay.known_hosts},
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
        "prod": {
            "hosts": prod_hosts,
            "app_dir": lay.app_dir("db"),
            "releases_dir": lay.releases_dir(APP_HOSTS[0].name),
            "backup_dir": lay.backup_dir("db"),
        },
        "lb": {
            "upstream_path": lay.upstream_path,
            "nginx_conf": lay.nginx_conf,
            "public_url": f"http://{LB_ADDR}",
            "state_dir": lay.lb_state_dir,
        },
        "monitoring": {"url": f"http://{MONITORING_ADDR}:{PROMETHEUS_PORT}", "interval_seconds": 2},
        "monitor_minutes": 0.5,
        "notify": {
            "webhook_url": f"http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/deployments",
            "incident_url": f"http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/incidents",
        },
    }


def write_inventory(lay: Layout) -> str:
    """Render lab/hosts.yml (and a copy in the lab root) and validate it with ghosttasks' loader."""
    from ghosttasks.errors import ConfigError
    from ghosttasks.inventory import load_inventory

    text = render("hosts.yml.j2", **inventory_context(lay))
    write_file(INVENTORY, text)
    write_file(lay.root / "hosts.yml", text)
    try:
        inventory = load_inventory(INVENTORY)
    except ConfigError as exc:
        raise LabError(f"inventory: {exc}") from None
    return f"{INVENTORY} ({', '.join(inventory.environments)})"
