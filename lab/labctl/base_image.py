"""The base image of every app image: mmdebstrap from this machine's Debian mirror, cached, docker imported."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from lab.labctl.commands import docker_cli
from lab.labctl.errors import LabError
from lab.labctl.hosts import FLAT, Topology
from lab.labctl.paths import Layout, cache_dir

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
        """Start mmdebstrap in the background unless this recipe's tarball is cached."""
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
        """Whether mmdebstrap is still building."""
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
    docker, env = docker_cli(lay, host)
    argv = [docker, "image", "inspect", "-f", "{{json .Config.Env}}", BASE_IMAGE]
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        return None
    for item in json.loads(result.stdout or "null") or []:
        if item.startswith("GHOSTLAB_BASE="):
            return item.split("=", 1)[1]
    return None


def import_base_image(lay: Layout, build: BaseImageBuild, topo: Topology = FLAT) -> str:
    """docker import the cached tarball into every lab engine that lacks this exact base image."""
    todo = [host.name for host in topo.docker_hosts if _image_key(lay, host.name) != build.key]
    procs = []
    for host in todo:
        docker, env = docker_cli(lay, host)
        changes = ["--change", "ENV LANG=C.UTF-8", "--change", f"ENV GHOSTLAB_BASE={build.key}"]
        argv = [docker, "import", *changes, str(build.tarball), BASE_IMAGE]
        procs.append((host, subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    for host, proc in procs:
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise LabError(f"base image: docker import into {host} failed: {err.decode().strip()[-300:]}")
    return f"{BASE_IMAGE} imported into {', '.join(todo)}" if todo else f"{BASE_IMAGE} present in every engine"
