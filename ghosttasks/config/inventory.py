"""hosts.yml -> a validated, typed model: the hosts, the environments, the inventory, the loader.

A bad file fails before anything runs, with one line naming the file, the key
path and what was expected (exit code 2). The settings sections an environment
holds (ssh, app, health, database, lb, probes, monitoring, metrics, smoke, thresholds, notify,
prerequisites) are in ghosttasks.config.settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ghosttasks.config.settings import (
    AppSettings,
    CanarySettings,
    CheckSettings,
    DatabaseSettings,
    HealthSettings,
    ImageSettings,
    LBSettings,
    LogSettings,
    MetricsSettings,
    MonitoringSettings,
    NotifySettings,
    Prerequisites,
    ProbeSettings,
    SmokeSettings,
    SSHSettings,
    Strict,
    Thresholds,
)
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.errors import ConfigError
from ghosttasks.domain.validate import HOST_NAME_RE

Role = Literal["lb", "app", "db", "monitoring"]

DEFAULT_INVENTORY = "hosts.yml"


class Host(Strict):
    name: str = Field(description="name in output, logs and state; letters, digits, `-`, `_`, `.`; unique")
    address: str = Field(description="IP address or DNS name for SSH, health URLs and the nginx upstream")
    roles: list[Role] = Field(min_length=1, description="what the host does: `lb`, `app`, `db`, `monitoring`")
    local: bool = Field(False, description="run commands on this machine instead of over SSH (dev)")
    port: int | None = Field(None, ge=1, le=65535, description="SSH port of this host; unset: `ssh.port`")
    user: str | None = Field(None, description="SSH login of this host; unset: `ssh.user`")
    app_dir: str | None = Field(None, description="app checkout on this host; unset: `app.dir`")
    releases_dir: str | None = Field(None, description="release worktrees on this host; unset: `app.releases_dir`")
    env: dict[str, str] = Field({}, description="extra environment (name: value) for commands on a local host")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not HOST_NAME_RE.fullmatch(value):
            raise ValueError("a host name of letters, digits, '-', '_' or '.'")
        return value


class Environment(Strict):
    name: str = Field("", description="the environment's name, filled in from its key under `environments`")
    protected: bool | None = Field(
        None, description="changes ask for confirmation and need `--yes` off a terminal; unset: only `prod`"
    )
    ssh: SSHSettings = Field(SSHSettings(), description="how to reach the hosts over SSH")
    hosts: list[Host] = Field(
        min_length=1,
        description="the machines; at least one `app` host, and one `db` host unless `database.host` is set",
    )
    app: AppSettings = Field(description="the application: strategy, checkout, compose files, ports")
    database: DatabaseSettings = Field(description="PostgreSQL and Redis services and the backups")
    lb: LBSettings | None = Field(
        None, description="the nginx load balancers (every `lb` host, one or more); required for blue-green"
    )
    health: HealthSettings = Field(
        HealthSettings(), description="what a healthy answer is and where the running version is read"
    )
    probes: ProbeSettings = Field(ProbeSettings(), description="which way HTTP probes of internal addresses travel")
    monitoring: MonitoringSettings = Field(MonitoringSettings(), description="where and how often to read metrics")
    metrics: MetricsSettings = Field(
        MetricsSettings(), description="what the error-rate and p95 triggers read: Prometheus queries or the LB's log"
    )
    smoke: SmokeSettings = Field(SmokeSettings(), description="the smoke tests run before a switch")
    logs: LogSettings = Field(LogSettings(), description="how the app's log lines read: `verify.logs`")
    checks: CheckSettings = Field(CheckSettings(), description="how `verify.db` and `verify.redis` check connectivity")
    thresholds: Thresholds = Field(Thresholds(), description="the runbook's automatic rollback triggers")
    canary: CanarySettings = Field(
        CanarySettings(), description="the canary before a prod switch: steps, their judgement, the LB's buckets"
    )
    notify: NotifySettings = Field(NotifySettings(), description="where deployment events and incidents are sent")
    prerequisites: Prerequisites = Field(Prerequisites(), description="host minimums checked before a prod deploy")
    images: ImageSettings = Field(ImageSettings(), description="where images are built, the registry, retention")

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        names = [host.name for host in self.hosts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"hosts: duplicate host name {duplicates[0]!r}")
        for role in ("app", "db") if not self.database.managed else ("app",):
            if not self.hosts_with(role):
                raise ValueError(f"hosts: no host has the role {role!r}")
        client_host = self.database.client_host
        if client_host and client_host not in names:
            raise ValueError(f"database.client_host: {client_host!r} is not a host of this environment")
        if self.app.shared_services and not self.hosts_with("db"):
            raise ValueError("app.shared_services: they run on the db host, and no host has the role 'db'")
        build_host = self.images.build_host
        if build_host and build_host not in [host.name for host in self.app_hosts]:
            raise ValueError(f"images.build_host: {build_host!r} is not an app host")
        app_names = [host.name for host in self.app_hosts]
        for worker, settings in self.app.workers.items():
            for index, name in enumerate(settings.hosts):
                if name not in app_names:
                    raise ValueError(f"app.workers.{worker}.hosts.{index}: {name!r} is not an app host")
        if self.metrics.source == "prometheus" and not self.monitoring.prometheus_url:
            raise ValueError("metrics.source: prometheus needs monitoring.prometheus_url (or source auto/access_log)")
        if self.app.strategy == "blue-green":
            self._check_blue_green()
        elif not self.app.ports:
            raise ValueError("app.ports: required for strategy 'single' (service -> port)")
        elif self.app.roles.public not in self.app.ports:
            public = self.app.roles.public
            raise ValueError(f"app.ports.{public}: no port for the public-role service (app.roles.public)")
        return self

    def _check_blue_green(self) -> None:
        app = self.app
        if app.releases_dir is None:
            raise ValueError("app.releases_dir: required for strategy 'blue-green'")
        for color in COLORS:
            if color not in app.color_compose_files:
                raise ValueError(f"app.color_compose_files.{color}: required for strategy 'blue-green'")
            ports = app.color_ports.get(color)
            if not ports:
                raise ValueError(f"app.color_ports.{color}: required for strategy 'blue-green'")
            for service in app.web_services:
                if service not in ports:
                    where = f"app.color_ports.{color}.{service}"
                    raise ValueError(f"{where}: no port for this web-facing per-colour service")
        if set(app.color_services) & set(app.shared_services):
            raise ValueError("app.shared_services: a service cannot be both per-colour and shared")
        if self.lb is None:
            raise ValueError("lb: required for strategy 'blue-green'")
        lbs = [host.name for host in self.hosts_with("lb")]
        if not lbs:
            raise ValueError("hosts: strategy 'blue-green' needs a host with the role 'lb'")
        if self.lb.state_host is not None and self.lb.state_host not in lbs:
            raise ValueError(f"lb.state_host: {self.lb.state_host!r} is not a host with the role 'lb'")

    @property
    def is_protected(self) -> bool:
        """Changes ask for confirmation (refused without --yes off a terminal); default: the prod env."""
        return self.name == "prod" if self.protected is None else self.protected

    def hosts_with(self, role: str) -> list[Host]:
        """The hosts that have this role, in inventory order."""
        return [host for host in self.hosts if role in host.roles]

    @property
    def lb_hosts(self) -> list[Host]:
        """Every load balancer (role `lb`): each gets the rendered files and the flag; a switch flips them all."""
        return self.hosts_with("lb")

    @property
    def lb_host(self) -> Host:
        """The LB that holds state.json, history and the deploy lock: `lb.state_host`, else the first `lb` host."""
        name = self.lb.state_host if self.lb is not None else None
        return next((host for host in self.lb_hosts if host.name == name), self.lb_hosts[0])

    @property
    def db_host(self) -> Host:
        """The first host with the db role (a managed database may have none: a ConfigError then)."""
        hosts = self.hosts_with("db")
        if not hosts:
            raise ConfigError(f"environment {self.name!r}: no host has the role 'db' (the database is managed)")
        return hosts[0]

    @property
    def database_client_host(self) -> Host:
        """Where the database's client tools run and the backups live: the db host, or for a managed server
        `database.client_host` (default: the first app host)."""
        if not self.database.managed:
            return self.db_host
        name = self.database.client_host
        return next((host for host in self.hosts if host.name == name), self.app_hosts[0])

    @property
    def app_hosts(self) -> list[Host]:
        """Every host with the app role."""
        return self.hosts_with("app")

    def worker_hosts(self, worker: str) -> list[str]:
        """The app hosts a worker service runs on, in inventory order: the named ones, else every app host (a
        singleton: the first)."""
        settings = self.app.workers[worker]
        names = [host.name for host in self.app_hosts]
        if settings.hosts:
            return [name for name in names if name in settings.hosts]
        return names[:1] if settings.kind == "singleton" else names

    @property
    def build_host(self) -> Host:
        """The app host that builds images with `images.build: once` (default: the first app host)."""
        name = self.images.build_host
        return next((host for host in self.app_hosts if host.name == name), self.app_hosts[0])

    def image_name(self, service: str) -> str:
        """The local image name (compose's `image:` without its tag) of a per-colour service."""
        return self.images.names.get(service) or f"{self.app.project}-{service}"

    def app_dir(self, host: Host) -> str:
        """The app checkout on this host."""
        return host.app_dir or self.app.dir

    def releases_dir(self, host: Host) -> str:
        """Where this host keeps one worktree per released version."""
        releases = host.releases_dir or self.app.releases_dir
        if releases is None:
            raise ConfigError(f"environment {self.name!r} has no app.releases_dir")
        return releases

    def release_dir(self, host: Host, version: str) -> str:
        """The worktree of one version on this host."""
        return f"{self.releases_dir(host)}/{version}"

    def port(self, service: str, color: Color | None = None) -> int:
        """The port of a service (of one colour in blue-green)."""
        ports = self.app.color_ports[color] if color else self.app.ports
        try:
            return ports[service]
        except KeyError:
            where = f"app.color_ports.{color}" if color else "app.ports"
            raise ConfigError(f"environment {self.name!r}: {where} has no port for {service!r}") from None

    def health_url(self, host: Host, service: str | None = None, color: Color | None = None) -> str:
        """The health URL of one service (default: the public role's) on one app host (of one colour in
        blue-green)."""
        service = service or self.app.roles.public
        return f"{self.base_url(host, service, color)}{self.app.health_paths[service]}"

    def base_url(self, host: Host, service: str | None = None, color: Color | None = None) -> str:
        """`http://address:port` of one service (default: the public role's) on one app host (of one colour)."""
        return f"http://{host.address}:{self.port(service or self.app.roles.public, color)}"

    @property
    def selector_path(self) -> str:
        """The LB's server-level selector snippet (lb.selector_path, else beside the upstream file)."""
        if self.lb is None:
            raise ConfigError(f"environment {self.name!r} has no lb")
        directory = self.lb.upstream_path.rsplit("/", 1)[0]
        return self.lb.selector_path or f"{directory}/{self.app.project}-selector.inc"

    @property
    def flag_path(self) -> str:
        """The flag file whose presence sends traffic to green (absent: blue), in the LB's state dir."""
        if self.lb is None:
            raise ConfigError(f"environment {self.name!r} has no lb")
        return f"{self.lb.state_dir}/{self.app.project}-active-green"

    @property
    def canary_path(self) -> str:
        """The canary's bucket directory on the LB (a symlink swapped per step), in the LB's state dir."""
        if self.lb is None:
            raise ConfigError(f"environment {self.name!r} has no lb")
        return f"{self.lb.state_dir}/{self.app.project}-canary"

    @property
    def access_log_path(self) -> str:
        """The LB access log the selector writes and the `access_log` metrics source reads."""
        if self.lb is None:
            raise ConfigError(f"environment {self.name!r} has no lb")
        return self.metrics.access_log_path or f"{self.lb.state_dir}/{self.app.project}-access.log"

    @property
    def lb_health_url(self) -> str:
        """The public role's health URL through the LB's public address."""
        if self.lb is None:
            raise ConfigError(f"environment {self.name!r} has no lb")
        return self.lb.public_url.rstrip("/") + self.app.health_paths[self.app.roles.public]

    def lb_own_health_url(self, host: Host) -> str:
        """The public role's health URL through one LB's own address: with one LB its public URL; with several,
        `lb.public_url` with the LB host's address in place of its host name (scheme, port and path kept), so a
        switch verifies each LB and not whichever one the public name reaches."""
        if len(self.lb_hosts) == 1:
            return self.lb_health_url
        parts = urlsplit(self.lb_health_url)
        address = f"[{host.address}]" if ":" in host.address else host.address
        netloc = address + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Inventory(Strict):
    path: str = Field("", description="the file the inventory was read from, set by the loader")
    default_env: str = Field(description="environment used without `--env`")
    environments: dict[str, Environment] = Field(min_length=1, description="the environments, by name")

    @model_validator(mode="after")
    def _default_exists(self) -> Inventory:
        if self.default_env not in self.environments:
            raise ValueError(f"default_env: {self.default_env!r} is not one of the environments")
        return self

    def env(self, name: str | None = None) -> Environment:
        """One environment by name (default: default_env); an unknown name is a ConfigError."""
        chosen = name or self.default_env
        try:
            return self.environments[chosen]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise ConfigError(f"{self.path}: no environment {chosen!r} (known: {known})") from None


def inventory_path(config_value: str | None = None) -> Path:
    """The file to load: $GHOST_INVENTORY, then Invoke config ghost.inventory, then hosts.yml."""
    return Path(os.environ.get("GHOST_INVENTORY") or config_value or DEFAULT_INVENTORY)


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory file; any problem raises ConfigError with one clear line."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: inventory file not found (set GHOST_INVENTORY or ghost.inventory)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with default_env and environments at the top")
    environments = raw.get("environments")
    if isinstance(environments, dict):
        for name, body in environments.items():
            if isinstance(body, dict):
                body.setdefault("name", name)
    try:
        return Inventory(path=str(path), **raw)
    except ValidationError as exc:
        raise ConfigError(_first_error(path, exc)) from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _first_error(path: Path, exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"] if part != "__root__")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    if ": " in message and not location:
        return f"{path}: {message}"
    return f"{path}: {location or 'top level'}: {message}".replace(": : ", ": ")
