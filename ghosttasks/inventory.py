"""hosts.yml -> a validated, typed model.

A bad file fails before anything runs, with one line naming the file, the key
path and what was expected (exit code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ghosttasks.errors import ConfigError
from ghosttasks.validate import COLORS, HOST_NAME_RE, Color

Role = Literal["lb", "app", "db", "monitoring"]

RUNBOOK_REQUIRED_ENV = [
    "DATABASE_URL",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "REDIS_URL",
    "JWT_SECRET_KEY",
    "JWT_ALGORITHM",
    "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
    "JWT_REFRESH_TOKEN_EXPIRE_DAYS",
    "ENVIRONMENT",
    "LOG_LEVEL",
    "DEBUG",
    "OPENTELEMETRY_ENDPOINT",
    "PROMETHEUS_MULTIPROC_DIR",
]

DEFAULT_INVENTORY = "hosts.yml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SSHSettings(Strict):
    user: str | None = None
    port: int = Field(22, ge=1, le=65535)
    key_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = Field(10, gt=0)
    command_timeout: float = Field(900, gt=0)
    jump_host: str | None = None


class Host(Strict):
    name: str
    address: str
    roles: list[Role] = Field(min_length=1)
    local: bool = False
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    app_dir: str | None = None
    releases_dir: str | None = None
    env: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not HOST_NAME_RE.fullmatch(value):
            raise ValueError("a host name of letters, digits, '-', '_' or '.'")
        return value


class AppSettings(Strict):
    strategy: Literal["single", "blue-green"]
    dir: str
    releases_dir: str | None = None
    repo_url: str
    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    compose_files: list[str] = Field(min_length=1)
    color_compose_files: dict[Color, str] = {}
    color_services: list[str] = ["api", "web"]
    shared_services: list[str] = ["postgres", "redis"]
    ports: dict[str, int] = {}
    color_ports: dict[Color, dict[str, int]] = {}
    health_paths: dict[str, str] = {"api": "/api/v1/health", "web": "/api/health"}
    public_health_url: str | None = None
    alembic: str = "alembic"
    seed_command: str = "python scripts/seed_demo_data.py"
    required_env: list[str] = RUNBOOK_REQUIRED_ENV
    env_file: str = ".env"


class SmokeUser(Strict):
    tenant: str
    username: str
    password: str | None = None
    password_env: str | None = None

    def secret(self) -> str | None:
        """The password, from the inventory or (preferred) the named environment variable of this machine."""
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password


class SmokeSettings(Strict):
    users: list[SmokeUser] = []
    latency_requests: int = Field(20, ge=1, le=10000)


class DatabaseSettings(Strict):
    service: str = "postgres"
    name: str = "ghostworks"
    user: str = "postgres"
    redis_service: str = "redis"
    backup_dir: str
    keep_backups: int = Field(14, ge=1)
    lock_wait_seconds: int = Field(60, ge=1)


class LBSettings(Strict):
    upstream_path: str
    public_url: str
    state_dir: str
    nginx: str = "nginx"
    nginx_conf: str | None = None


class MonitoringSettings(Strict):
    prometheus_url: str | None = None
    interval_seconds: float = Field(15, gt=0)
    rate_window: str = Field("1m", pattern=r"^[1-9][0-9]*[smh]$")


class Thresholds(Strict):
    error_rate: float = Field(0.10, ge=0, le=1)
    p95_seconds: float = Field(2.0, gt=0)
    health_failures: int = Field(3, ge=1)
    monitor_minutes: float = Field(15, ge=0)


class NotifySettings(Strict):
    webhook_url: str | None = None
    incident_url: str | None = None
    timeout_seconds: float = Field(5, gt=0)


class Prerequisites(Strict):
    docker_min: str = "20.10"
    compose_min: str = "2.0"
    ram_min_gb: float = 4
    disk_min_gb: float = 20


class Environment(Strict):
    name: str = ""
    protected: bool | None = None
    ssh: SSHSettings = SSHSettings()
    hosts: list[Host] = Field(min_length=1)
    app: AppSettings
    database: DatabaseSettings
    lb: LBSettings | None = None
    monitoring: MonitoringSettings = MonitoringSettings()
    smoke: SmokeSettings = SmokeSettings()
    thresholds: Thresholds = Thresholds()
    notify: NotifySettings = NotifySettings()
    prerequisites: Prerequisites = Prerequisites()

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        names = [host.name for host in self.hosts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"hosts: duplicate host name {duplicates[0]!r}")
        for role in ("app", "db"):
            if not self.hosts_with(role):
                raise ValueError(f"hosts: no host has the role {role!r}")
        if self.app.strategy == "blue-green":
            self._check_blue_green()
        elif not self.app.ports:
            raise ValueError("app.ports: required for strategy 'single' (service -> port)")
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
            for service in app.color_services:
                if service not in ports:
                    raise ValueError(f"app.color_ports.{color}.{service}: no port for this per-colour service")
        if set(app.color_services) & set(app.shared_services):
            raise ValueError("app.shared_services: a service cannot be both per-colour and shared")
        if self.lb is None:
            raise ValueError("lb: required for strategy 'blue-green'")
        if len(self.hosts_with("lb")) != 1:
            raise ValueError("hosts: strategy 'blue-green' needs exactly one host with the role 'lb'")

    @property
    def is_protected(self) -> bool:
        """Changes ask for confirmation (refused without --yes off a terminal); default: the prod env."""
        return self.name == "prod" if self.protected is None else self.protected

    def hosts_with(self, role: str) -> list[Host]:
        return [host for host in self.hosts if role in host.roles]

    @property
    def lb_host(self) -> Host:
        return self.hosts_with("lb")[0]

    @property
    def db_host(self) -> Host:
        return self.hosts_with("db")[0]

    @property
    def app_hosts(self) -> list[Host]:
        return self.hosts_with("app")

    def app_dir(self, host: Host) -> str:
        return host.app_dir or self.app.dir

    def releases_dir(self, host: Host) -> str:
        releases = host.releases_dir or self.app.releases_dir
        if releases is None:
            raise ConfigError(f"environment {self.name!r} has no app.releases_dir")
        return releases

    def release_dir(self, host: Host, version: str) -> str:
        return f"{self.releases_dir(host)}/{version}"

    def port(self, service: str, color: Color | None = None) -> int:
        ports = self.app.color_ports[color] if color else self.app.ports
        try:
            return ports[service]
        except KeyError:
            where = f"app.color_ports.{color}" if color else "app.ports"
            raise ConfigError(f"environment {self.name!r}: {where} has no port for {service!r}") from None

    def health_url(self, host: Host, service: str = "api", color: Color | None = None) -> str:
        return f"http://{host.address}:{self.port(service, color)}{self.app.health_paths[service]}"


class Inventory(Strict):
    path: str = ""
    default_env: str
    environments: dict[str, Environment] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_exists(self) -> Inventory:
        if self.default_env not in self.environments:
            raise ValueError(f"default_env: {self.default_env!r} is not one of the environments")
        return self

    def env(self, name: str | None = None) -> Environment:
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
