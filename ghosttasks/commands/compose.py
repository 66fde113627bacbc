"""docker compose commands, always with an explicit project (-p) and file list (-f)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ghosttasks.commands import assumptions, join, qpath
from ghosttasks.commands.facts import Answer, Fact, Unread
from ghosttasks.config.settings import DEFAULT_VERSION_VARIABLE
from ghosttasks.domain.colors import COLORS


@dataclass(frozen=True)
class Project:
    """One compose project on one host: where its files are, its name, files and image version, and the compose
    variable that carries the version into its files (app.version_variable)."""

    directory: str
    name: str
    files: tuple[str, ...]
    version: str | None = None
    version_variable: str = DEFAULT_VERSION_VARIABLE

    def prefix(self) -> str:
        """`cd DIR && [VARIABLE=V] docker compose -p NAME -f ...`: the start of every command for this project."""
        env = f"{self.version_variable}={shlex.quote(self.version)} " if self.version else ""
        files = " ".join(f"-f {shlex.quote(name)}" for name in self.files)
        return f"cd {qpath(self.directory)} && {env}docker compose -p {shlex.quote(self.name)} {files}"


def build(project: Project, services: list[str]) -> str:
    """Build the images of the named services."""
    return f"{project.prefix()} build {join(services)}".rstrip()


def up(project: Project, services: list[str] | None = None, *, recreate: bool = False) -> str:
    """`up -d` for the named services only (--no-deps: per-colour services never start the shared ones).

    With recreate, containers are always new ones from the image (nothing left from an earlier run).
    """
    if not services:
        return f"{project.prefix()} up -d"
    fresh = " --force-recreate" if recreate else ""
    return f"{project.prefix()} up -d --no-deps{fresh} {join(services)}"


def ps(project: Project) -> str:
    """Every container of the project, running or not."""
    return f"{project.prefix()} ps --all"


def logs(project: Project, service: str, tail: int = 200) -> str:
    """The last lines of one service's logs, with timestamps."""
    return f"{project.prefix()} logs --no-color --timestamps --tail {int(tail)} {shlex.quote(service)}"


def exec_(project: Project, service: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run argv in the service's running container (no TTY), with extra environment variables."""
    return f"{project.prefix()} exec -T {_env_flags(env)}{shlex.quote(service)} {join(argv)}"


def exec_running(project: str, service: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run argv in the service's running container found by the labels compose gives it (not a one-off), with
    `docker exec` (no TTY) and extra environment variables: no compose file is read. Fails (exit 1) saying so
    when the service does not run."""
    missing = shlex.quote(f"service {service} is not running in compose project {project}")
    return (
        f"c=$({running_ids(project, service)} | head -n 1); "
        f'if [ -z "$c" ]; then echo {missing} >&2; exit 1; fi; docker exec {_env_flags(env)}"$c" {join(argv)}'
    )


def running_ids(project: str, service: str) -> str:
    """`docker ps -q` of the service's running containers in the compose project, found by compose's labels (a
    one-off `compose run` container excluded): what `compose ps -q SERVICE` prints, without the compose CLI's start."""
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": service}
    filters = " ".join(f"--filter {shlex.quote(f'label={name}={value}')}" for name, value in labels.items())
    return f"docker ps -q {filters} --filter label=com.docker.compose.oneoff=False"


def run_rm(project: Project, service: str, argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run argv in a one-off container of the service, removed afterwards (no dependencies started)."""
    return f"{project.prefix()} run --rm --no-deps -T {_env_flags(env)}{shlex.quote(service)} {join(argv)}"


def _env_flags(env: dict[str, str] | None) -> str:
    return "".join(f"-e {shlex.quote(f'{name}={value}')} " for name, value in (env or {}).items())


def copy_out(project: Project, service: str, source: str, destination: str) -> str:
    """Copy a file out of the service's container onto the host."""
    return f"{project.prefix()} cp {shlex.quote(f'{service}:{source}')} {qpath(destination)}"


def config(project: Project) -> str:
    """The resolved compose configuration."""
    return f"{project.prefix()} config"


def config_check(project: Project) -> str:
    """Validate the compose configuration (quiet: exit status only)."""
    return f"{project.prefix()} config --quiet"


def stats() -> str:
    """One snapshot of CPU, memory and network per container."""
    return "docker stats --no-stream --format 'table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.NetIO}}'"


def versions() -> str:
    """Docker engine and Compose versions, one per line (the runbook's prerequisites)."""
    return "docker version --format '{{.Server.Version}}' && docker compose version --short"


def logs_since(project: Project, services: list[str], since: str | None, tail: int) -> str:
    """The services' log lines as written (no prefix, no colour) since a time, at most the last `tail` of each."""
    window = f" --since {shlex.quote(since)}" if since else ""
    return f"{project.prefix()} logs --no-color --no-log-prefix{window} --tail {int(tail)} {join(services)}"


#: compose's labels on every container it starts: the project, and the directory it was started from.
PROJECT_LABEL = "com.docker.compose.project"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"


def running_containers() -> str:
    """Every running (or restarting) compose container on the host: its project, a space, its working dir."""
    fields = f'{{{{.Label "{PROJECT_LABEL}"}}}} {{{{.Label "{WORKING_DIR_LABEL}"}}}}'
    return f"docker ps --filter label={PROJECT_LABEL} --format {shlex.quote(fields)}"


def parse_running(text: str, projects: dict[str, str], releases_dir: str, unknown: str) -> dict[str, frozenset[str]]:
    """running_containers' answer as {key: versions} for the projects named in `projects` (name -> key).

    A container's version is the release directory it was started from (`<releases_dir>/<version>/...`);
    one started from anywhere else counts as `unknown`.
    """
    found: dict[str, set[str]] = {key: set() for key in projects.values()}
    prefix = releases_dir.rstrip("/") + "/"
    for line in text.splitlines():
        name, _, directory = line.partition(" ")
        if name.strip() not in projects:
            continue
        relative = directory.strip()[len(prefix) :] if directory.strip().startswith(prefix) else ""
        found[projects[name.strip()]].add(relative.split("/", 1)[0] or unknown)
    return {key: frozenset(versions) for key, versions in found.items()}


def colours_running(project: str, releases_dir: str, unknown: str) -> Fact[dict[str, frozenset[str]]]:
    """Per colour, the versions its containers on a host run (parse_running); a dry run assumes the
    versions the example state records, each from its release dir."""
    projects = {f"{project}-{color}": color for color in COLORS}
    assumed = "".join(
        f"{project}-{color} {releases_dir}/{info.version}\n"
        for color, info in assumptions.STATE.colors.items()
        if info.version
    )
    return Fact(
        "read which containers run",
        running_containers(),
        lambda answer: parse_running(answer.stdout, projects, releases_dir, unknown),
        assumed,
    )


def exec_check(project: Project, service: str, argv: list[str], label: str) -> Fact[str | Unread]:
    """A check command in the service's running container, exit status decides: `LABEL OK` with the last line it
    printed, or why it failed."""

    def parse(answer: Answer) -> str | Unread:
        if not answer.ok:
            return Unread(answer.describe())
        said = answer.stdout.strip().splitlines()
        return f"{label} OK" + (f" ({said[-1].strip()})" if said else "")

    return Fact(f"{label} check", exec_(project, service, argv), parse, f"{label} OK", check=False)


def memory_sample() -> str:
    """Every running container's memory (`docker stats`), then its restart count and start time (`docker
    inspect`), separated by a marker line (ghosttasks.decisions.memory_growth.parse_sample)."""
    return (
        "docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}' && echo '--- inspect' && "
        "docker ps -q | xargs -r docker inspect --format '{{.Name}}\t{{.RestartCount}}\t{{.State.StartedAt}}'"
    )


def restart(project: Project, services: list[str], *, timeout: int = 10) -> str:
    """Restart the named services' containers in place (stop with the grace period, start again)."""
    return f"{project.prefix()} restart -t {int(timeout)} {join(services)}"
