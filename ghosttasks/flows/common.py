"""Steps shared by the procedures: projects, preflight checks, backup, migration, health, traffic switch."""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks import probes, render
from ghosttasks.commands import alembic, backup, compose, git, host, nginx
from ghosttasks.errors import OperationFailed
from ghosttasks.inventory import Host
from ghosttasks.masking import mask
from ghosttasks.run import Run
from ghosttasks.state import DeployState, Store

GIB = 1024 * 1024
REVISION_LINE = "0003c3d4e5f6 (head)"
UNKNOWN_REVISION = "Can't locate revision"


# -- compose projects --------------------------------------------------------------------
def color_project(run: Run, app_host: Host, color: str, version: str) -> compose.Project:
    """The per-colour project (api, web) of one app host, run from that version's release dir."""
    env = run.env
    files = (*env.app.compose_files, env.app.color_compose_files[color])  # type: ignore[index]
    return compose.Project(env.release_dir(app_host, version), f"{env.app.project}-{color}", files, version)


def shared_project(run: Run) -> compose.Project:
    """The shared, stateful services (postgres, redis) on the db host."""
    env = run.env
    return compose.Project(env.app_dir(env.db_host), env.app.project, tuple(env.app.compose_files))


def single_project(run: Run, app_host: Host, version: str | None = None) -> compose.Project:
    """dev and staging: one project with every service, from the app dir."""
    env = run.env
    return compose.Project(env.app_dir(app_host), env.app.project, tuple(env.app.compose_files), version)


@dataclass(frozen=True)
class ApiTarget:
    """Where to run alembic and app-level checks: one app host's api container."""

    host: Host
    project: compose.Project
    color: str | None


def serving_state(run: Run) -> DeployState | None:
    """The recorded deploy state; None for single-strategy environments, which have no colours."""
    return Store(run).load() if run.env.app.strategy == "blue-green" else None


def serving_api(run: Run) -> ApiTarget:
    """The api container that serves now (read from the recorded state where there are colours)."""
    return active_api(run, serving_state(run))


def active_api(run: Run, state: DeployState | None) -> ApiTarget:
    """The serving api: the active colour's on the first app host (blue-green), else the env's project."""
    first = run.env.app_hosts[0]
    if run.env.app.strategy != "blue-green":
        return ApiTarget(first, single_project(run, first), None)
    if state is None or state.active is None or state.colors[state.active].version is None:
        raise OperationFailed(
            f"no colour is active in {run.env.name} yet: nothing to run this against",
            hint=f"deploy first: inv deploy.prod --env {run.env.name} --version vX.Y.Z",
        )
    version = state.colors[state.active].version
    return ApiTarget(first, color_project(run, first, state.active, version), state.active)  # type: ignore[arg-type]


# -- preflight ---------------------------------------------------------------------------
def check_reachable(run: Run, hosts: list[Host]) -> None:
    run.executor.run_parallel(hosts, host.reachable(), what="reach host", timeout=run.env.ssh.connect_timeout * 3)
    run.out.ok(f"{len(hosts)} hosts reachable: {', '.join(h.name for h in hosts)}")


def _version_tuple(text: str) -> tuple[int, ...]:
    digits = []
    for part in text.strip().lstrip("v").split("."):
        number = "".join(ch for ch in part if ch.isdigit())
        if not number:
            break
        digits.append(int(number))
    return tuple(digits)


def check_prerequisites(run: Run, hosts: list[Host], *, disk_path_of) -> list[str]:
    """The runbook's system requirements, each reported with its measured value; returns the failures."""
    need = run.env.prerequisites
    problems: list[str] = []

    def facts(target: Host) -> str:
        return " && ".join([compose.versions(), host.memory_kib(), host.free_disk_kib(disk_path_of(target))])

    results = run.executor.run_parallel(
        hosts, facts, what="read prerequisites", check=False, assume="28.2.2\n2.40.3\n25165824\n83886080"
    )
    for result in results:
        lines = result.stdout.split()
        if not result.ok or len(lines) < 4:
            problems.append(f"{result.host}: cannot read docker/compose/memory/disk ({result.describe()})")
            continue
        docker_version, compose_version, mem_kib, disk_kib = lines[:4]
        checks = [
            (
                "Docker",
                docker_version,
                _version_tuple(docker_version) >= _version_tuple(need.docker_min),
                f">= {need.docker_min}",
            ),
            (
                "Compose",
                compose_version,
                _version_tuple(compose_version) >= _version_tuple(need.compose_min),
                f">= {need.compose_min}",
            ),
            ("RAM", f"{int(mem_kib) / GIB:.1f} GB", int(mem_kib) / GIB >= need.ram_min_gb, f">= {need.ram_min_gb} GB"),
            (
                "free disk",
                f"{int(disk_kib) / GIB:.1f} GB",
                int(disk_kib) / GIB >= need.disk_min_gb,
                f">= {need.disk_min_gb} GB",
            ),
        ]
        for name, measured, ok, wanted in checks:
            line = f"{result.host}: {name} {measured} ({wanted})"
            if ok:
                run.out.ok(line)
            else:
                run.out.fail(line)
                problems.append(line)
    return problems


def missing_env(run: Run, hosts: list[Host]) -> dict[str, list[str]]:
    """Required variables absent from each host's env file (names only; values never leave the host)."""
    env = run.env
    required = env.app.required_env
    results = run.executor.run_parallel(
        hosts,
        lambda target: host.env_names(f"{env.app_dir(target)}/{env.app.env_file}"),
        what="read env var names",
        check=False,
        assume="\n".join(required),
    )
    missing: dict[str, list[str]] = {}
    for result in results:
        if not result.ok:
            missing[result.host] = [f"(cannot read {env.app.env_file}: {result.describe()})"]
            continue
        present = set(result.stdout.split())
        absent = [name for name in required if name not in present]
        if absent:
            missing[result.host] = absent
    return missing


def require_env(run: Run, hosts: list[Host]) -> None:
    missing = missing_env(run, hosts)
    if missing:
        detail = "; ".join(f"{name}: {', '.join(names)}" for name, names in sorted(missing.items()))
        raise OperationFailed(
            f"required environment variables are missing: {detail}",
            hint=f"add them to {run.env.app.env_file} in the app dir on those hosts (see .env.example)",
        )
    run.out.ok(f"all {len(run.env.app.required_env)} required variables present on {len(hosts)} hosts")


# -- backup ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupInfo:
    path: str
    size: int
    sha256: str


def take_backup(run: Run, label: str) -> BackupInfo:
    """pg_dump -Fc on the db host, verified with pg_restore --list, checksummed; then retention."""
    env = run.env
    db = env.database
    project = shared_project(run)
    path = f"{db.backup_dir}/{backup.backup_name(env.name, label, run.stamp())}"
    run.executor.run(
        env.db_host,
        backup.dump(
            project,
            service=db.service,
            user=db.user,
            database=db.name,
            path=path,
            lock_wait_seconds=db.lock_wait_seconds,
        ),
        what="pg_dump",
    )
    verified = run.executor.run(
        env.db_host,
        backup.verify(project, service=db.service, path=path),
        what="backup verification (pg_restore --list)",
        assume=f"size=1048576\n{'0' * 64}  {path.rsplit('/', 1)[1]}",
    )
    size, checksum = _parse_verification(verified.stdout)
    if size <= 0:
        raise OperationFailed(f"backup {path} is empty")
    run.executor.run(env.db_host, backup.prune(db.backup_dir, env.name, db.keep_backups), what="backup retention")
    run.out.ok(f"backup {path} verified: {size} bytes, sha256 {checksum[:12]}")
    return BackupInfo(path, size, checksum)


def _parse_verification(text: str) -> tuple[int, str]:
    size, checksum = 0, ""
    for line in text.splitlines():
        if line.startswith("size="):
            size = int(line.removeprefix("size=") or 0)
        elif line.strip():
            checksum = line.split()[0]
    return size, checksum


# -- alembic -----------------------------------------------------------------------------
def alembic_in(
    run: Run, target: ApiTarget, argv: list[str], *, what: str, stream: bool = True, assume: str = "", check=True
):
    return run.executor.run(
        target.host, compose.exec_(target.project, "api", argv), what=what, stream=stream, assume=assume, check=check
    )


def current_revision(run: Run, target: ApiTarget) -> str | None:
    result = alembic_in(
        run, target, alembic.current(run.env.app.alembic), what="alembic current", stream=False, assume=REVISION_LINE
    )
    return parse_revision(result.stdout)


def migrate_to_head(run: Run, new: ApiTarget, version: str, *, serving: ApiTarget | None) -> str | None:
    """`alembic upgrade head` from the new version's container, unless the database is already newer.

    When the new version's code cannot locate the database's revision, the database is ahead of it
    (an older version being deployed): migrations are backward compatible, so that version runs on
    the newer schema as it is, and we say so. The revision is then read through the serving colour.
    """
    argv = alembic.current(run.env.app.alembic)
    found = alembic_in(run, new, argv, what="alembic current", stream=False, check=False, assume=REVISION_LINE)
    if not found.ok and UNKNOWN_REVISION in found.stdout + found.stderr:
        current = current_revision(run, serving) if serving else None
        run.out.warn(
            f"the database is at {current or 'a revision'} newer than anything {version} ships: not migrating "
            f"(to take the schema back too, use inv deploy.rollback --to {version})"
        )
        return current
    if not found.ok:
        raise OperationFailed(f"alembic current failed: {found.describe()}")
    alembic_in(run, new, alembic.upgrade(run.env.app.alembic), what="alembic upgrade head")
    return current_revision(run, new)


def parse_revision(text: str) -> str | None:
    """The revision id from `alembic current` output (None for an empty database)."""
    for line in text.splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if word and all(ch in "0123456789abcdef" for ch in word) and len(word) >= 4:
            return word
    return None


# -- health ------------------------------------------------------------------------------
def wait_for_color(run: Run, color: str | None, version: str | None, *, deadline: float = 180) -> None:
    """Every app host's api and web answer healthy (with the expected version) within the deadline."""
    env = run.env
    urls = [
        (target, service, env.health_url(target, service, color))
        for target in env.app_hosts
        for service in env.app.health_paths
        if service in (env.app.color_ports.get(color, {}) if color else env.app.ports)
    ]
    policy = probes.RetryPolicy(deadline=deadline)
    failures = []
    for target, service, url in urls:
        description = f"GET {url} until HTTP 200, status ok" + (f", version {version}" if version else "")
        health = run.executor.probe(
            description,
            lambda url=url: probes.wait_healthy(url, expect_version=version, policy=policy, log=run.out.info),
            assume=probes.Health(url, True, 200, {"status": "ok", "version": version, "color": color}),
        )
        if health.ok:
            run.out.ok(f"{target.name} {service}: healthy after {health.attempts} attempt(s) ({health.summary()})")
        else:
            run.out.fail(f"{target.name} {service}: {health.summary()}")
            failures.append(f"{target.name} {service}: {health.error}")
    if failures:
        raise OperationFailed(
            f"{color or 'the new version'} never became healthy within {deadline:.0f} s: {'; '.join(failures)}",
            hint="see its logs: inv stack.logs api" + (f" --color {color}" if color else ""),
        )


# -- traffic -----------------------------------------------------------------------------
def switch_traffic(run: Run, color: str, version: str) -> None:
    """Render the upstream for `color`, stage it, swap it in, `nginx -t` (restore on failure), reload."""
    env = run.env
    lb = env.lb
    assert lb is not None
    content = render.upstream(env, color=color, version=version, rendered_at=run.now())
    staged = nginx.staged_path(lb.upstream_path)
    run.executor.put(env.lb_host, content, staged, mode=0o644)
    run.executor.run(env.lb_host, nginx.swap_in(lb.upstream_path), what="install the new upstream")
    tested = run.executor.run(env.lb_host, nginx.test(lb.nginx, lb.nginx_conf), check=False)
    if not tested.ok:
        run.executor.run(env.lb_host, nginx.restore_previous(lb.upstream_path), what="restore the previous upstream")
        raise OperationFailed(
            f"nginx -t rejected the new upstream on {env.lb_host.name}; the previous file was restored and "
            f"nginx was not reloaded: {mask(tested.describe())}",
            hint="check the nginx configuration on the LB host, then retry",
        )
    run.executor.run(env.lb_host, nginx.reload(lb.nginx, lb.nginx_conf), what="nginx reload")
    run.out.ok(f"{env.lb_host.name}: nginx now sends traffic to {color} ({version})")


def verify_lb(run: Run, color: str, version: str | None, *, samples: int = 10, deadline: float = 15) -> None:
    """The LB answers only from `color` (and `version`): sampled until consistent or the deadline."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    assert run.env.lb is not None
    url = run.env.lb.public_url.rstrip("/") + run.env.app.health_paths["api"]
    description = f"GET {url} x{samples} on new connections: every answer from {color}" + (
        f" {version}" if version else ""
    )

    def sample_until_consistent() -> probes.TrafficSample:
        # nginx -s reload is asynchronous: old workers may take a last new connection; sample again then.
        retrying = Retrying(
            stop=stop_after_delay(deadline),
            wait=wait_fixed(0.2),
            retry=retry_if_result(lambda sample: not sample.only(color, version)),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return retrying(lambda: probes.sample_traffic(url, samples, concurrent=True))

    assumed = probes.TrafficSample(url)
    assumed.answers[(color, version)] = samples
    sample = run.executor.probe(description, sample_until_consistent, assume=assumed)
    if not sample.only(color, version):
        raise OperationFailed(f"traffic check failed: {sample.summary()}")
    run.out.ok(f"LB verified: {sample.summary()}")


def fetch_release(run: Run, version: str) -> None:
    """Fetch tags and check the version out into its release dir on every app host (parallel)."""
    env = run.env
    run.executor.run_parallel(
        env.app_hosts,
        lambda target: (
            f"{git.fetch_tags(env.app_dir(target))} && "
            + git.checkout_release(env.app_dir(target), env.release_dir(target, version), version, env.app.env_file)
        ),
        what=f"fetch and check out {version}",
    )


def start_color(run: Run, color: str, version: str) -> None:
    """Fresh per-colour containers of `version` on every app host (parallel); shared services untouched."""
    env = run.env
    run.executor.run_parallel(
        env.app_hosts,
        lambda target: compose.up(color_project(run, target, color, version), env.app.color_services, recreate=True),
        what=f"start {color}",
        stream=True,
    )


def build_images(run: Run, version: str, color: str) -> None:
    env = run.env
    run.executor.run_parallel(
        env.app_hosts,
        lambda target: compose.build(color_project(run, target, color, version), env.app.color_services),
        what=f"build {version} images",
        stream=True,
    )
