"""An environment's sections: ssh, app, health, smoke, database, lb, probes, monitoring, metrics, thresholds,
notify, prerequisites, images.

Each section is a frozen pydantic model whose fields carry the `description=` the README's
hosts.yml reference is generated from (ghosttasks.config.reference). The hosts, the
environment that holds these sections and the loader are in ghosttasks.config.inventory.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ghosttasks.domain.canary_buckets import steps_problem
from ghosttasks.domain.colors import Color
from ghosttasks.domain.metric_queries import QueryPair, queries, template_problem

#: A path that can go into a sudoers rule and a shell command as it is.
PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+-]+")

#: The compose variable that carries the version into the compose files unless app.version_variable says otherwise.
DEFAULT_VERSION_VARIABLE = "APP_VERSION"

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


_WORD = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_DESTINATION = re.compile(
    rf"(?:(?P<user>{_WORD})@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>{_WORD}))(?::(?P<port>\d+))?"
)


@dataclass(frozen=True)
class Destination:
    """`[user@]host[:port]` as written (a jump host, a ProxyJump hop); unset parts are None."""

    host: str
    user: str | None = None
    port: int | None = None


def parse_destination(text: str) -> Destination:
    """Split `[user@]host[:port]` (an IPv6 address in brackets); ValueError naming the expected form."""
    match = _DESTINATION.fullmatch(text.strip())
    port = int(match["port"]) if match and match["port"] else None
    if not match or (port is not None and not 1 <= port <= 65535):
        raise ValueError(f"{text!r} is not [user@]host[:port] (e.g. ops@bastion.example.com:2222)")
    return Destination(match["host"] or match["v6"], match["user"], port)


def command_words(line: str) -> list[str]:
    """The words of a command line as the shell splits it; ValueError `'LINE': not a command line (why)`."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise ValueError(f"{line!r}: not a command line ({exc})") from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SSHSettings(Strict):
    user: str | None = Field(
        None, description="SSH login on every host (a host's `user` overrides it); unset: the local user"
    )
    port: int = Field(22, ge=1, le=65535, description="SSH port of every host (a host's `port` overrides it)")
    key_file: str | None = Field(
        None, description="private key file (`~` expanded); when set, no agent and no default keys are tried"
    )
    known_hosts: str = Field(
        "~/.ssh/known_hosts", description="file host keys are checked against; unknown or changed keys are refused"
    )
    connect_timeout: float = Field(10, gt=0, description="seconds to wait for an SSH connection, banner and login")
    command_timeout: float = Field(900, gt=0, description="seconds a remote command may run before it is stopped")
    jump_host: str | None = Field(
        None,
        description="bastion to connect through, `[user@]host[:port]` (unset parts: ssh_config's for it, else "
        "`ssh.user` and 22); its host key is checked like every host's; unset: direct (or ssh_config's ProxyJump)",
    )
    jump_key_file: str | None = Field(
        None, description="private key file for the bastion (`~` expanded); unset: `ssh.key_file`"
    )
    config_file: str | None = Field(
        None,
        description="OpenSSH config to read (e.g. `~/.ssh/config`): HostName, User, Port, IdentityFile, "
        "ProxyJump and ProxyCommand fill in what hosts.yml leaves unset (hosts.yml wins); unset: not read",
    )

    @field_validator("jump_host")
    @classmethod
    def _jump_host(cls, value: str | None) -> str | None:
        if value is not None:
            parse_destination(value)
        return value

    @property
    def jump(self) -> Destination | None:
        """The jump host as written (`user@host:port` split; None when there is none)."""
        return parse_destination(self.jump_host) if self.jump_host else None

    def explicit(self, name: str) -> bool:
        """The key was written in hosts.yml (not a default): it wins over ssh_config."""
        return name in self.model_fields_set


class AppRoles(Strict):
    migrations: str = Field(
        "api", description="per-colour service alembic runs in (also `db.revision`, the dev seed, configured checks)"
    )
    public: str = Field(
        "api",
        description="web-facing service behind the LB: its health path through `lb.public_url` (traffic checks, "
        "monitoring), the base URL of the smoke tests and smoke scripts, the correlation requests",
    )
    logs: list[str] = Field(["api"], min_length=1, description="services whose logs `verify.logs` reads")


#: A signal name docker accepts (`docker kill -s`): SIGTERM, SIGQUIT, SIGINT, SIGUSR1...
SIGNAL = re.compile(r"SIG[A-Z0-9]+")


class WorkerSettings(Strict):
    """A per-colour service without a port or a health path (a queue consumer, a scheduler): it follows the
    traffic (only the serving colour's run) instead of sitting behind the LB."""

    kind: Literal["consumer", "singleton"] = Field(
        "consumer",
        description="`consumer`: one per host listed in `hosts`; `singleton` (a scheduler): exactly one in the "
        "whole environment, on one host, stopped before its successor starts",
    )
    stop_signal: str = Field(
        "SIGTERM", description="signal that asks it to finish its current job and exit (`docker kill -s`)"
    )
    stop_timeout: int = Field(
        30,
        ge=1,
        le=3600,
        description="seconds it has to exit after the stop signal (its longest job plus a margin) before it is "
        "killed (SIGKILL); the tool says which of the two happened",
    )
    hosts: list[str] = Field(
        [],
        description="app hosts it runs on; empty: every app host (a singleton: the first app host); a singleton "
        "names at most one",
    )

    @field_validator("stop_signal")
    @classmethod
    def _signal(cls, value: str) -> str:
        if not SIGNAL.fullmatch(value):
            raise ValueError(f"{value!r} is not a signal name (e.g. SIGTERM, SIGQUIT)")
        return value

    @model_validator(mode="after")
    def _one_singleton_host(self) -> WorkerSettings:
        if self.kind == "singleton" and len(self.hosts) > 1:
            raise ValueError(f"hosts: a singleton runs on one host, not {len(self.hosts)}")
        return self


class AppSettings(Strict):
    strategy: Literal["single", "blue-green"] = Field(
        description="`blue-green`: two colours behind the LB (prod); `single`: one stack (dev, staging)"
    )
    dir: str = Field(description="git checkout of the app on each host: compose files and the env file")
    releases_dir: str | None = Field(
        None, description="per-version worktrees (`<releases_dir>/<version>`); required for blue-green"
    )
    repo_url: str = Field(description="git origin the hosts clone and fetch release tags from")
    project: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="compose project name; the colours run as `<project>-blue` and `<project>-green`",
    )
    compose_files: list[str] = Field(
        min_length=1, description="compose files (`-f`, in this order): base, then the environment's override"
    )
    color_compose_files: dict[Color, str] = Field(
        {}, description="per-colour override file, added after `compose_files`; required for blue-green"
    )
    color_services: list[str] = Field(["api", "web"], description="services run once per colour on every app host")
    shared_services: list[str] = Field(
        ["postgres", "redis"], description="stateful services shared by both colours, on the db host"
    )
    ports: dict[str, int] = Field({}, description="host port per service (service: port); required for single")
    color_ports: dict[Color, dict[str, int]] = Field(
        {}, description="host port per colour and per-colour service; required for blue-green"
    )
    health_paths: dict[str, str] = Field(
        {"api": "/api/v1/health", "web": "/api/health"}, description="health URL path per service, probed on app hosts"
    )
    public_health_url: str | None = Field(
        None, description="public health URL checked after the hosts when there is no LB; unset: none"
    )
    alembic: str = Field(
        "alembic",
        description="command that runs alembic inside the api container; its `-c FILE` and `-n NAME` (if any) also "
        "tell the revision reader which config to read (else alembic's default: `$ALEMBIC_CONFIG`, else "
        "alembic.ini in the container's working directory)",
    )
    alembic_python: str | None = Field(
        None,
        description="python inside the api image that imports alembic: it runs the revision reader (alembic's own "
        "script-directory model, printed as JSON); unset: the python `alembic` names when it is `PYTHON -m "
        "alembic ...`, else python3",
    )
    alembic_versions_dir: str = Field(
        "alembic/versions",
        description="the app checkout's directory of migration files, relative to `dir` (no `..`): where "
        "`db.revision` copies the migration alembic generated in the migrations-role container",
    )
    seed_command: str | None = Field(
        "python scripts/seed_demo_data.py",
        description="`deploy.dev`'s seed command line, run in the migrations-role container after the migrations; "
        "null or empty: no seed (`seed: not configured`)",
    )
    required_env: list[str] = Field(
        RUNBOOK_REQUIRED_ENV, description="variables the env file must define on every app host before a deploy"
    )
    env_file: str = Field(".env", description="env file in the app dir, linked into every release; only names are read")
    version_variable: str = Field(
        DEFAULT_VERSION_VARIABLE,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="compose variable that carries the version (the image tag) into the compose files",
    )
    roles: AppRoles = Field(AppRoles(), description="which service plays which role; checked against the services")
    workers: dict[str, WorkerSettings] = Field(
        {},
        description="per-colour services that are workers (service: settings): no port, no health path, not "
        "behind the LB; only the serving colour's run, handed over after each switch; unset: none",
    )
    queue_keys: list[str] = Field(
        [],
        description="Redis keys whose length `verify.workers` and the deploy (before and after) report, read with "
        "redis-cli in `database.redis_service`: the queue, in-flight lists; a glob (`jobs:processing:*`) stands for "
        "every key it matches; unset: none reported",
    )

    @field_validator("seed_command")
    @classmethod
    def _seed(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        command_words(value)
        return value

    @field_validator("alembic_versions_dir")
    @classmethod
    def _versions_dir(cls, value: str) -> str:
        path = PurePosixPath(value)
        if not value.strip() or not path.parts or path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{value!r}: not a path relative to the app dir without `..` (e.g. alembic/versions)")
        return str(path)

    @property
    def web_services(self) -> list[str]:
        """The per-colour services behind the LB and probed: those with a health path or a port. A service with
        neither (a worker) gets no upstream entry and no probe, and needs no port."""
        ported = set(self.ports).union(*self.color_ports.values())
        return [name for name in self.color_services if name in self.health_paths or name in ported]

    @model_validator(mode="after")
    def _roles(self) -> AppSettings:
        """Every role names a service the app runs: a per-colour one (single strategy: or one with a port)."""
        services = list(dict.fromkeys([*self.color_services, *(self.ports if self.strategy == "single" else ())]))
        known = f"(services: {', '.join(services) or 'none'})"
        roles = self.roles
        logs = [(f"logs[{index}]", name) for index, name in enumerate(roles.logs)]
        for key, name in [("migrations", roles.migrations), ("public", roles.public), *logs]:
            if name not in services:
                raise ValueError(f"roles.{key}: {name!r} is not a service of this app {known}")
        if roles.public not in self.health_paths:
            raise ValueError(f"roles.public: {roles.public!r} has no health path (app.health_paths.{roles.public})")
        web = self.web_services
        for name in self.workers:
            if name not in self.color_services:
                raise ValueError(f"workers.{name}: not a per-colour service (app.color_services)")
            if name in web:
                raise ValueError(f"workers.{name}: a worker has no port and no health path (it is web-facing)")
            if name in (roles.migrations, roles.public):
                raise ValueError(f"workers.{name}: a worker cannot play the migrations or public role")
        return self

    @property
    def colour_up_services(self) -> list[str]:
        """The per-colour services a deploy brings up before the switch: all but the workers (they follow the
        traffic: started after the switch, ghosttasks.decisions.workers)."""
        return [name for name in self.color_services if name not in self.workers]


#: A dotted JSON path (`checks.database`); `*` stands for every entry of an object (`checks.*`).
JSON_PATH = re.compile(r"[^.\s]+(\.[^.\s]+)*")
#: An HTTP header name (RFC 9110 token characters that headers use in practice).
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
#: The placeholders of health.version_format: the release tag as written (v3.1.0), or its number (3.1.0).
VERSION_PLACEHOLDERS = ("{tag}", "{number}")

#: An accepted value in a health check: a string, or a JSON number or boolean written as YAML.
Accepted = str | bool | int | float


def _json_path(key: str | None, value: str) -> str:
    if not JSON_PATH.fullmatch(value):
        where = f"{key}: " if key else ""
        raise ValueError(f"{where}{value!r} is not a dotted JSON path (e.g. checks.database)")
    return value


class HealthSettings(Strict):
    status_codes: list[int] = Field(
        [200], min_length=1, description="HTTP statuses a healthy answer may have (each 100-599)"
    )
    checks: dict[str, list[Accepted]] = Field(
        {"status": ["ok"]},
        description="JSON field (dotted path; `*` = every entry of an object, e.g. `checks.*`) -> accepted values; "
        "`{}`: the status code alone decides (the body may be anything, JSON or not)",
    )
    version_from: Literal["json", "header", "none"] = Field(
        "json",
        description="where the running version is read: `json` (the field `health.version_field`), `header` (the "
        "response header `health.version_field`) or `none` (the app does not say: after the new colour is healthy "
        "the deploy checks the image its containers run: the digest recorded with `images.build: once`, else the "
        "tag `<image name>:<version>`)",
    )
    version_field: str = Field(
        "version", description="the JSON field (dotted path) or header name that carries the version, per version_from"
    )
    version_format: str = Field(
        "{tag}",
        description="how the app writes the version: `{tag}` the release tag as is (v3.1.0), `{number}` without the "
        "leading `v` (3.1.0); other text around it is literal (`release-{number}`)",
    )
    database_field: str | None = Field(
        "checks.database",
        description="JSON field (dotted path) of the health answer the monitor reads as the database's state "
        "(a value not in `health.database_ok` fires the database trigger); unset: not configured (said, never ok)",
    )
    database_ok: list[Accepted] = Field(["ok"], min_length=1, description="values of database_field that mean ok")

    @field_validator("status_codes")
    @classmethod
    def _status_codes(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status (100-599)")
        return value

    @field_validator("checks")
    @classmethod
    def _checks(cls, value: dict[str, list[Accepted]]) -> dict[str, list[Accepted]]:
        for path, accepted in value.items():
            _json_path(None, path)
            if not accepted:
                raise ValueError(f"{path}: no accepted values (list at least one, or remove the check)")
        return value

    @field_validator("database_field")
    @classmethod
    def _database_field(cls, value: str | None) -> str | None:
        return None if value is None else _json_path(None, value)

    @field_validator("version_format")
    @classmethod
    def _version_format(cls, value: str) -> str:
        found = [name for name in VERSION_PLACEHOLDERS if name in value]
        if len(found) != 1 or value.count(found[0]) != 1:
            raise ValueError(f"{value!r}: write {{tag}} or {{number}}, exactly once")
        if value.replace(found[0], "").count("{") or value.replace(found[0], "").count("}"):
            raise ValueError(f"{value!r}: only {{tag}} or {{number}} may stand in braces")
        return value

    @model_validator(mode="after")
    def _version_field(self) -> HealthSettings:
        if self.version_from == "header" and not HEADER_NAME.fullmatch(self.version_field):
            raise ValueError(f"version_field: {self.version_field!r} is not a header name (version_from: header)")
        if self.version_from == "json":
            _json_path("version_field", self.version_field)
        return self


class SmokeUser(Strict):
    tenant: str = Field(description="tenant to log in to")
    username: str = Field(description="user name to log in with")
    password: str | None = Field(None, description="password, written in the inventory (prefer `password_env`)")
    password_env: str | None = Field(None, description="variable on this machine that holds the password")

    def secret(self) -> str | None:
        """The password, from the inventory or (preferred) the named environment variable of this machine."""
        if self.password_env:
            return os.environ.get(self.password_env)
        return self.password


class SmokeSettings(Strict):
    builtin: bool = Field(
        True,
        description="run the built-in Ghostworks suite (login, artifact CRUD, tenant isolation, latency; needs "
        "`smoke.users`) against the public-role service; false: only `smoke.scripts`",
    )
    users: list[SmokeUser] = Field([], description="logins for the smoke tests; none: health checks only")
    latency_requests: int = Field(
        20, ge=1, le=10000, description="timed requests of the smoke latency test (p95 vs `thresholds.p95_seconds`)"
    )
    scripts: list[str] = Field(
        [],
        description="the app's own smoke scripts, each a command line as the runbook runs it "
        "(`./scripts/smoke-tests.sh`, arguments allowed, no shell syntax), run in that version's release dir "
        "(single: the app dir) on the first app host against the new colour before the switch, with "
        "GHOST_BASE_URL (the public-role service of that colour on that host), GHOST_COLOR, GHOST_VERSION and "
        "GHOST_ENV set; a non-zero exit refuses the switch",
    )
    script_timeout_seconds: float = Field(
        300, gt=0, description="seconds each smoke script may run before it is stopped (and fails)"
    )

    @field_validator("scripts")
    @classmethod
    def _scripts(cls, value: list[str]) -> list[str]:
        for index, line in enumerate(value):
            try:
                words = command_words(line)
            except ValueError as exc:
                raise ValueError(f"[{index}] {exc}") from None
            if not words:
                raise ValueError(f"[{index}]: an empty command line")
        return value


class LogSettings(Strict):
    format: Literal["json", "text"] = Field(
        "json", description="how the app writes a log line: one JSON object (`json`) or text read by `pattern`"
    )
    level_key: str = Field("level", description="JSON key of a line's level (`json`)")
    message_key: str = Field("msg", description="JSON key of a line's message (`json`)")
    request_id_key: str = Field("request_id", description="JSON key of the request id a line was logged for (`json`)")
    pattern: str | None = Field(
        None,
        description="regular expression a text line is matched with (`text`; required there): named groups "
        "`level` and `message`, and `request_id` for the correlation check; a line it does not match has no level. "
        "`verify.logs --slow` reads a request line by the groups `duration` (in `duration_unit`) and `path` "
        "(both required on the line), `request_id`, `method`, `status` and `time` (optional: one the pattern lacks "
        "is shown as `not available`)",
    )
    error_levels: list[str] = Field(
        ["ERROR", "CRITICAL"], min_length=1, description="levels counted as errors (compared in upper case)"
    )
    request_id_header: str = Field(
        "X-Request-ID",
        pattern=r"^[A-Za-z0-9-]+$",
        description="request header the correlation check sends a fresh id in (and expects echoed back)",
    )
    duration_key: str = Field(
        "duration_ms",
        description="JSON key of a request log line that holds the request's duration (`verify.logs --slow`)",
    )
    duration_unit: Literal["ms", "s", "us"] = Field(
        "ms", description="unit of `duration_key` (or of the text pattern's group `duration`): `ms`, `s` or `us`"
    )
    path_key: str = Field(
        "path", description="JSON key of a request log line that holds the request path (`verify.logs --slow`)"
    )
    method_key: str = Field(
        "method",
        min_length=1,
        description="JSON key of a request log line that holds the HTTP method (`verify.logs --slow`)",
    )
    status_key: str = Field(
        "status",
        min_length=1,
        description="JSON key of a request log line that holds the response status (`verify.logs --slow`)",
    )
    time_key: str = Field(
        "ts",
        min_length=1,
        description="JSON key of a request log line that holds when it was logged (`verify.logs --slow`)",
    )
    correlation: bool = Field(
        True,
        description="`verify.logs` sends requests with fresh ids and finds each in the logs; false: the check says "
        "`correlation: not configured` (the app neither logs nor echoes request ids)",
    )

    @model_validator(mode="after")
    def _pattern(self) -> LogSettings:
        if self.pattern is None:
            if self.format == "text":
                raise ValueError("pattern: required with format: text (named groups level and message)")
            return self
        try:
            groups = re.compile(self.pattern).groupindex
        except re.error as exc:
            raise ValueError(f"pattern: not a regular expression: {exc}") from None
        missing = [name for name in ("level", "message") if name not in groups]
        if missing:
            raise ValueError(f"pattern: no named group {', '.join(missing)} (write (?P<{missing[0]}>...))")
        if self.correlation and self.format == "text" and "request_id" not in groups:
            raise ValueError(
                "pattern: no named group request_id, which the correlation check needs (or correlation: false)"
            )
        return self


class CheckSettings(Strict):
    database_command: str | None = Field(
        None,
        description="`verify.db`'s command line (no shell syntax), run in the migrations-role service of the serving "
        "colour, exit status decides; unset: `psql -c 'SELECT 1'` through `database.service` on the db host (nothing "
        "in the app's image)",
    )
    redis_command: str | None = Field(
        None,
        description="`verify.redis`'s command line, run the same way; unset: `redis-cli ping` through "
        "`database.redis_service` on the db host",
    )
    workers_window_seconds: float = Field(
        10,
        ge=0,
        le=600,
        description="seconds `verify.workers` watches the workers' restart counts: one that grows is a restart "
        "loop; 0: one look (a container docker shows `restarting` still fails)",
    )

    @field_validator("database_command", "redis_command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not command_words(value):
            raise ValueError("an empty command line (leave it unset for the default)")
        return value


#: libpq's sslmode values (`database.sslmode`).
SSLMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
#: The keys that describe a managed server; they mean nothing without `database.host`.
MANAGED_KEYS = ("port", "sslmode", "ssl_root_cert", "password_env", "password_file", "client_image", "client_host")


class DatabaseSettings(Strict):
    service: str = Field("postgres", description="compose service that runs PostgreSQL (unless `host` is set)")
    name: str = Field("ghostworks", description="database that is backed up, restored and checked")
    user: str = Field("postgres", description="PostgreSQL role for pg_dump, pg_restore and pg_isready")
    redis_service: str = Field("redis", description="compose service that runs Redis")
    backup_dir: str = Field(
        description="directory for `pg_dump -Fc` backups and their checksums: on the db host, or on the client host "
        "of a managed server"
    )
    host: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]*$",
        description="address of a PostgreSQL server no SSH host runs (managed): backups, restores, the revision "
        "read and `verify.db` run in a one-off `client_image` container on `client_host`; unset: the compose "
        "`service` on the db host",
    )
    port: int = Field(5432, ge=1, le=65535, description="port of the managed server (`host`)")
    sslmode: SSLMode = Field(
        "prefer", description="libpq sslmode to the managed server (`verify-full` checks its name)"
    )
    ssl_root_cert: str | None = Field(
        None,
        description="CA file on the client host that signs the managed server's certificate (mounted read-only); "
        "required with sslmode `verify-ca` / `verify-full`",
    )
    password_env: str | None = Field(
        None,
        description="variable on this machine that holds `user`'s password on the managed server (sent on the "
        "command's stdin, never argv)",
    )
    password_file: str | None = Field(
        None, description="file on this machine whose first line is that password (`~` expanded)"
    )
    client_image: str | None = Field(
        None,
        description="image with the client tools of the managed server's major version (e.g. `postgres:16`); "
        "required with `host`",
    )
    client_host: str | None = Field(
        None,
        description="host that runs the one-off client container and keeps the backups (a managed server); "
        "unset: the first app host",
    )
    keep_backups: int = Field(14, ge=1, description="backups kept per environment; older ones are pruned")
    lock_wait_seconds: int = Field(60, ge=1, description="seconds pg_dump waits for a table lock before giving up")
    migration_lock_timeout_seconds: float = Field(
        5, gt=0, description="lock_timeout of a migration's session: it never queues live queries behind it longer"
    )
    migration_statement_timeout_seconds: float = Field(
        600, gt=0, description="statement_timeout of a migration's session: no migration statement runs longer"
    )
    migration_lock_attempts: int = Field(
        3, ge=1, description="times a migration is tried when it hits lock_timeout, before the deploy fails"
    )

    @model_validator(mode="after")
    def _managed(self) -> DatabaseSettings:
        if self.host is None:
            stray = [key for key in MANAGED_KEYS if key in self.model_fields_set]
            if stray:
                raise ValueError(f"{stray[0]}: only with host (a managed server); without it PostgreSQL is `service`")
            return self
        if not self.client_image:
            raise ValueError("client_image: required with host (an image with the server's major version of pg_dump)")
        if not (self.password_env or self.password_file):
            raise ValueError("password_env or password_file: required with host")
        if self.password_env and self.password_file:
            raise ValueError("password_env and password_file: give one, not both")
        if self.sslmode in ("verify-ca", "verify-full") and not self.ssl_root_cert:
            raise ValueError(f"ssl_root_cert: required with sslmode {self.sslmode} (the CA file on the client host)")
        return self

    @property
    def managed(self) -> bool:
        """PostgreSQL is a server no SSH host runs (`host` is set), not a compose service."""
        return self.host is not None

    @property
    def password_source(self) -> str:
        """Where the managed server's password is read on this machine, as the operator names it."""
        return f"${self.password_env}" if self.password_env else f"{self.password_file}"

    def password(self) -> str | None:
        """The managed server's password from the named variable or file of this machine (None: not set there)."""
        if self.password_env:
            return os.environ.get(self.password_env) or None
        if self.password_file:
            try:
                with open(os.path.expanduser(self.password_file)) as handle:
                    return handle.readline().rstrip("\r\n") or None
            except OSError:
                return None
        return None


class LBSettings(Strict):
    upstream_path: str = Field(description="upstream file on the LB host that nginx includes and ghosttasks renders")
    public_url: str = Field(description="public base URL through the LB, for traffic checks and monitoring")
    state_dir: str = Field(
        description="directory on each LB host for its flag and access log; on the state LB (`lb.state_host`) "
        "also state.json, history.jsonl and the deploy lock"
    )
    state_host: str | None = Field(
        None,
        description="the `lb` host whose `lb.state_dir` holds state.json, history.jsonl and the one deploy lock "
        "when there are several LBs; unset: the first `lb` host in `hosts`",
    )
    nginx: str = Field(
        "nginx",
        description="nginx command on the LB host (may include arguments); with `lb.sudo` and no path: "
        "`/usr/sbin/nginx`",
    )
    nginx_conf: str | None = Field(None, description="config passed as `-c` to `nginx -t` and reload; unset: default")
    selector_path: str | None = Field(
        None,
        description="server-level snippet ghosttasks renders, included inside the LB's `server` block: it picks "
        "the colour per request from a flag file in `lb.state_dir` (a switch needs no reload); unset: "
        "`<project>-selector.inc` beside `lb.upstream_path`",
    )
    sudo: bool = Field(
        False,
        description="install the upstream file and run `nginx -t` and reload with `sudo -n` (the login user "
        "cannot write the upstream's directory or signal nginx); the rule: `python3 -m ghosttasks.commands.sudoers`",
    )
    color_header: str = Field(
        "X-Served-Color",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="response header the selector adds (`add_header ... always`) naming the colour that served; "
        "traffic checks, `traffic.status` and the monitor read the colour from it (the app need not say it). nginx "
        "drops server-level `add_header` in a location that sets its own: include the selector there too",
    )
    upstream_owner: str = Field(
        "root:root",
        pattern=r"^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$",
        description="`owner:group` of the upstream file installed with `lb.sudo` (mode 0644); without sudo the "
        "file belongs to the login user",
    )

    @model_validator(mode="after")
    def _sudo_paths(self) -> LBSettings:
        """Paths run under sudo go into a sudoers rule: absolute and plain (nothing to quote or escape)."""
        if not self.sudo:
            return self
        paths = (("upstream_path", self.upstream_path), ("nginx_conf", self.nginx_conf))
        for key, value in (*paths, ("selector_path", self.selector_path)):
            if value is not None and not (value.startswith("/") and PLAIN_PATH.fullmatch(value)):
                raise ValueError(
                    f"{key}: with lb.sudo, an absolute path of letters, digits and . _ - + / only "
                    "(it goes into a sudoers rule)"
                )
        if not all(PLAIN_PATH.fullmatch(word) for word in self.nginx.split()):
            raise ValueError("nginx: with lb.sudo, words of letters, digits and . _ - + / only (sudoers rule)")
        return self

    @property
    def owner(self) -> tuple[str, str]:
        """(owner, group) of the upstream file under sudo."""
        user, _, group = self.upstream_owner.partition(":")
        return user, group


class ProbeSettings(Strict):
    via: Literal["auto", "ssh", "direct"] = Field(
        "auto",
        description="how probes of internal addresses (app hosts' health and smoke URLs, Prometheus, "
        "Alertmanager, Pushgateway) travel: "
        "`ssh` in a direct-tcpip channel of the run's SSH connections (opened by the jump host when there is "
        "one, else by the host itself or, for an address no host has, the monitoring host or LB), `direct` from "
        "this machine, `auto` `ssh` when `ssh.jump_host` or `ssh.config_file` (its ProxyJump) is set; "
        "`lb.public_url`, `app.public_health_url` and webhooks always go direct",
    )
    ca_file: str | None = Field(
        None,
        description="PEM file on this machine (`~` expanded) with the CA certificate(s) every direct HTTPS probe "
        "trusts (`lb.public_url`, `app.public_health_url`, smoke tests, Prometheus): for a private CA; unset: the "
        "system trust store. A certificate that does not verify fails the run with one line naming the URL, the "
        "issuer and this setting; verification cannot be turned off",
    )


class MonitoringSettings(Strict):
    prometheus_url: str | None = Field(
        None,
        description="Prometheus base URL; with `metrics.source: auto`, unset or down: error rate and p95 are read "
        "from the LB access log",
    )
    alertmanager_url: str | None = Field(
        None,
        description="Alertmanager base URL: `verify.monitoring` sends it a test alert and follows the rollback "
        "alerts' route to its receivers; unset: alerts are not checked",
    )
    alert_deadline_seconds: float = Field(
        60, gt=0, description="seconds the test alert may take to be delivered to every receiver on its route"
    )
    pushgateway_url: str | None = Field(
        None,
        description="Pushgateway base URL deploy markers are pushed to (`ghostworks_deploy_marker_timestamp_seconds`: "
        "deployed, rolled_back, failed); unset: no markers",
    )
    interval_seconds: float = Field(15, gt=0, description="seconds between two readings while monitoring")
    rate_window: str = Field(
        "1m", pattern=r"^[1-9][0-9]*[smh]$", description="PromQL range the error rate and p95 are computed over"
    )


class MetricsSettings(Strict):
    source: Literal["auto", "prometheus", "access_log", "none"] = Field(
        "auto",
        description="where the error-rate and p95 triggers read the watched colour's traffic: `prometheus` "
        "(the queries below), `access_log` (the LB's own access log of the users' requests, read over SSH: every "
        'app has one), `none` (not measured: the triggers say "not configured"); `auto`: `prometheus` when '
        "`monitoring.prometheus_url` is set (the access log while it is unreachable), else `access_log`",
    )
    preset: Literal["ghostworks", "prometheus_client"] = Field(
        "ghostworks",
        description="named query templates: `ghostworks` (`ghostworks_http_requests_total` and "
        "`ghostworks_http_request_duration_seconds_bucket` with `color`, `version`, `status` labels) or "
        "`prometheus_client` (`http_requests_total{status}` and `http_request_duration_seconds_bucket`, the "
        "colour a `color` target label of the scrape config)",
    )
    error_rate_query: str | None = Field(
        None,
        description="PromQL template of the 5xx share (0..1) with the placeholders `{color}` `{version}` "
        "`{window}`; unset: the preset's",
    )
    p95_query: str | None = Field(
        None,
        description="PromQL template of the 95th percentile request duration in seconds, placeholders as "
        "`error_rate_query`; unset: the preset's",
    )
    requests_query: str | None = Field(
        None,
        description="PromQL template of the number of requests in the window (a canary reading needs "
        "canary.min_requests), placeholders as `error_rate_query`; unset: the preset's",
    )
    without_series: Literal["refuse", "continue"] = Field(
        "refuse",
        description="before the switch, when the serving colour's queries return no series (or its access log "
        "cannot be read): `refuse` the deploy, or `continue` saying which triggers cannot be judged",
    )
    access_log_path: str | None = Field(
        None,
        description="access log the LB's selector writes (one line per request: time, status, request time, "
        "colour) and the `access_log` source reads; unset: `<lb.state_dir>/<app.project>-access.log`",
    )

    @field_validator("error_rate_query", "p95_query", "requests_query")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        problem = None if value is None else template_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("access_log_path")
    @classmethod
    def _log_path(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("/") and PLAIN_PATH.fullmatch(value)):
            raise ValueError("an absolute path of letters, digits and . _ - + / only (it goes into the nginx config)")
        return value

    @property
    def templates(self) -> QueryPair:
        """The query templates in force: each configured one, else the preset's."""
        return queries(self.preset, self.error_rate_query, self.p95_query, self.requests_query)


class Thresholds(Strict):
    error_rate: float = Field(0.10, ge=0, le=1, description="roll back above this share of 5xx answers (0.10 = 10 %)")
    p95_seconds: float = Field(
        2.0, gt=0, description="roll back above this p95 response time, seconds; also the smoke latency limit"
    )
    health_failures: int = Field(3, ge=1, description="roll back after more than this many health failures in a row")
    log_errors: int = Field(
        0,
        ge=0,
        description="`verify.logs` fails when a host's `app.roles.logs` services logged more error-level lines "
        "(`logs.error_levels`) than this since the deploy",
    )
    monitor_minutes: float = Field(
        15, ge=0, description="minutes to monitor after a switch (0: no monitoring); `--monitor-minutes` overrides"
    )
    health_timeout_seconds: float = Field(
        180,
        gt=0,
        description="seconds a deploy's new colour has to become healthy on every host; `--health-timeout` overrides",
    )


class CanarySettings(Strict):
    steps: list[int] = Field(
        [],
        description="percentages of clients a prod deploy sends to the new colour before the full switch, in order "
        "(multiples of 5 from 5 to 95, rising: `[5, 25, 50]`); empty: no canary. `deploy.prod --canary` overrides",
    )
    step_seconds: float = Field(
        60, gt=0, description="seconds each step lasts at least, judged every monitoring.interval_seconds"
    )
    min_requests: float = Field(
        20,
        ge=1,
        description="requests a colour must have answered in monitoring.rate_window for a reading to be judged; "
        "fewer: the reading is inconclusive and holds the step",
    )
    max_inconclusive_readings: int = Field(
        10, ge=1, description="inconclusive readings in a row a step may hold for; one more fails the canary"
    )
    error_rate_margin: float = Field(
        0.02,
        ge=0,
        le=1,
        description="the canary fails when its error rate exceeds the stable colour's by more than this share "
        "(0.02 = 2 points), besides thresholds.error_rate",
    )
    p95_ratio: float = Field(
        1.5, ge=1, description="the canary fails when its p95 exceeds the stable colour's times this ratio ..."
    )
    p95_margin_seconds: float = Field(
        0.1, ge=0, description="... and by more than these seconds (besides thresholds.p95_seconds)"
    )
    cookie: str = Field(
        "ghost_canary",
        pattern=r"^[A-Za-z0-9_]+$",
        description="cookie the LB sets (when absent, during a canary) and hashes into the 20 buckets of 5 %; "
        "a client without it is placed by its address. `<cookie>_force=1` forces the canary colour",
    )
    force_header: str = Field(
        "X-Canary",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="request header (any value) that sends a tester to the canary colour while a canary runs",
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        problem = steps_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class NotifySettings(Strict):
    webhook_url: str | None = Field(None, description="URL deployment events are POSTed to; unset: no notifications")
    incident_url: str | None = Field(None, description="URL an incident is POSTed to on emergency rollback")
    timeout_seconds: float = Field(5, gt=0, description="seconds per notification request")


class Prerequisites(Strict):
    docker_min: str = Field("20.10", description="lowest Docker engine version accepted on app and db hosts")
    compose_min: str = Field("2.0", description="lowest Docker Compose version accepted")
    ram_min_gb: float = Field(4, description="least RAM per app and db host, GiB")
    disk_min_gb: float = Field(20, description="least free disk, GiB, under the releases dir (app) and backup dir (db)")


class ImageSettings(Strict):
    build: Literal["on-hosts", "once"] = Field(
        "on-hosts",
        description="`once`: build each image on the build host, push it to `images.registry`, and run it by "
        "digest on every app host (both colours, every host: the same bytes); `on-hosts`: every app host "
        "builds its own (no registry)",
    )
    registry: str | None = Field(
        None,
        pattern=r"^[a-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._-]+)*$",
        description="registry and repository prefix the images are pushed to, `host[:port][/path]` (the login "
        "server is `host[:port]`); required with `build: once`",
    )
    build_host: str | None = Field(
        None, description="app host that builds the images (`build: once`); unset: the first app host"
    )
    names: dict[str, str] = Field(
        {},
        description="local image name per per-colour service (compose's `image:` without the tag); unset: "
        "`<app.project>-<service>`",
    )
    username: str | None = Field(None, description="registry login (`docker login --username`); unset: no login")
    password_env: str | None = Field(
        None, description="variable on this machine that holds the registry password (sent on stdin, never argv)"
    )
    password_file: str | None = Field(
        None, description="file on this machine whose first line is the registry password (`~` expanded)"
    )
    keep: int = Field(
        5,
        ge=1,
        description="after a deploy (and `deploy.prune`) keep the images and release worktrees of the last N "
        "deployed versions, always with both colours' versions (every rollback target); the rest is removed",
    )

    @model_validator(mode="after")
    def _registry_for_once(self) -> ImageSettings:
        if self.build == "once" and not self.registry:
            raise ValueError("registry: required with build: once")
        if self.username and not (self.password_env or self.password_file):
            raise ValueError("password_env or password_file: required with a username")
        if self.password_env and self.password_file:
            raise ValueError("password_env and password_file: give one, not both")
        return self

    @property
    def login_server(self) -> str:
        """The registry's `host[:port]` (what docker login takes)."""
        return (self.registry or "").split("/", 1)[0]

    def password(self) -> str | None:
        """The registry password from the named variable or file of this machine (None: not set there)."""
        if self.password_env:
            return os.environ.get(self.password_env) or None
        if self.password_file:
            try:
                with open(os.path.expanduser(self.password_file)) as handle:
                    return handle.readline().rstrip("\r\n") or None
            except OSError:
                return None
        return None
