"""Build once, ship the same bytes: build on the build host, push, pull by digest everywhere; check; prune.

`images.build: once`: the build host builds each per-colour image of a version one time, pushes it
to the registry and reads its manifest digest; every app host then pulls `registry/name@digest` and
names it `name:version`, the name compose runs, so every host and both colours run those bytes.
The registry password goes to `docker login --password-stdin` on stdin, in a DOCKER_CONFIG made for
that one command and removed after it. `images.build: on-hosts`: each app host builds its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ghosttasks.commands import compose, docker_images, git
from ghosttasks.config.inventory import Host
from ghosttasks.config.settings import ImageSettings
from ghosttasks.decisions import registry_reuse, retention
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.registry_reuse import Manifest
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.masking import mask
from ghosttasks.domain.validate import VERSION_RE
from ghosttasks.execution.executor import Probe
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import color_project
from ghosttasks.terminal.reporting import describe_images

T = TypeVar("T")

ProjectFor = Callable[[Host], compose.Project]


def preflight(run: Run) -> None:
    """Refuse before anything changes when build once lacks its registry password."""
    if run.env.images.build == "once":
        registry_password(run)


def registry_password(run: Run) -> str | None:
    """The registry password of this machine (masked from here on); refused before anything changes if unset."""
    settings = run.env.images
    if not settings.username:
        return None
    password = settings.password()
    if not password and run.dry_run:  # a plan needs no secret: it pushes nothing
        run.note(f"dry run: the registry password ({_source(settings)}) is not read; a real run refuses without it")
        return "<registry password>"
    if not password:
        raise OperationFailed(
            f"the registry password is missing: {_source(settings)} is not set or empty on this machine; "
            "nothing was changed",
            hint=f"set it (images.password_env / images.password_file) to the password of {settings.username} "
            f"at {settings.login_server}",
        )
    mask.add(password)
    return password


def _source(settings: ImageSettings) -> str:
    return f"${settings.password_env}" if settings.password_env else f"{settings.password_file}"


def repository(run: Run, service: str) -> str:
    """`registry/name` of a per-colour service's image."""
    return f"{run.env.images.registry}/{run.env.image_name(service)}"


def _logged_in(run: Run, commands: list[str]) -> str:
    settings = run.env.images
    login = [docker_images.login(settings.login_server, settings.username)] if settings.username else []
    return docker_images.session([*login, *commands])


def ship(run: Run, version: str, project_for: ProjectFor, recorded: dict[str, str] | None = None) -> dict[str, str]:
    """The version's per-colour services' images on every app host: built on each, or built once and pulled by
    digest. `project_for` gives the compose project of a host. Build once reads the registry first: a version
    whose images are all there is not built or pushed again (registry_reuse; `recorded`: the digests the state
    recorded for it). Returns service -> pinned reference (empty with `build: on-hosts`)."""
    env = run.env
    if env.images.build == "on-hosts":
        run.executor.run_parallel(
            env.app_hosts,
            lambda target: compose.build(project_for(target), env.app.color_services),
            what=f"build {version} images",
            stream=True,
        )
        return {}
    password = registry_password(run)
    shipping = in_registry(run, version, password, recorded or {})
    if shipping.push:
        run.note(f"{shipping.reason}: built on {env.build_host.name} and pushed")
        at_once = registry_reuse.push_at_once(repositories_known(run, password))
        pinned = build_and_push(run, version, project_for(env.build_host), password, at_once=at_once)
    else:
        pinned = shipping.pinned
        run.out.ok(f"{shipping.reason} ({describe_images(pinned)})")
    pull_everywhere(run, version, pinned, password)
    return pinned


def in_registry(run: Run, version: str, password: str | None, recorded: dict[str, str]) -> registry_reuse.Shipping:
    """Each per-colour image's manifest digest for `version` read from the registry's API (all at once), and the
    decision whether to build and push (a dry run assumes the registry has none of them)."""
    from ghosttasks.execution import registry_api

    env = run.env
    repositories = {service: repository(run, service) for service in env.app.color_services}
    found = _ask_registry(
        run,
        lambda name: registry_reuse.manifest_url(env.images.registry or "", name, version),
        registry_api.manifest,
        lambda url: f"HEAD {url} {way(env, url)} (is {version} in the registry?)",
        Manifest(),
        timeout=min(env.ssh.command_timeout, 10.0),
        password=password,
    )
    return registry_reuse.decide(repositories, version, found, recorded)


def repositories_known(run: Run, password: str | None) -> dict[str, bool | None]:
    """Service -> whether the registry holds any tag of its repository (read at once; a dry run assumes so)."""
    from ghosttasks.execution import registry_api

    env = run.env
    return _ask_registry(
        run,
        lambda name: registry_reuse.tags_url(env.images.registry or "", name),
        registry_api.has_tags,
        lambda url: f"GET {url} {way(env, url)}",
        True,
        timeout=10.0,
        password=password,
    )


def _ask_registry(
    run: Run,
    url_of: Callable[[str], str],
    read: Callable[..., T],
    describe: Callable[[str], str],
    assumed: T,
    *,
    timeout: float,
    password: str | None,
) -> dict[str, T]:
    """Service -> `read`'s answer for its image's registry URL (`url_of(image name)`), every service at once, each
    through the run's client for that URL (the bastion's SSH when probes go that way)."""
    env = run.env
    urls = {service: url_of(env.image_name(service)) for service in env.app.color_services}

    def ask(url: str) -> T:
        client = run.executor.http_client(url)
        return read(url, username=env.images.username, password=password, client=client, timeout=timeout)

    probes = [Probe(describe(url), lambda url=url: ask(url), assumed) for url in urls.values()]
    return dict(zip(urls, run.executor.probe_all(probes), strict=True))


def colour_projects(run: Run, color: Color, version: str) -> ProjectFor:
    """The per-colour project of each host (blue-green)."""
    return lambda target: color_project(run, target, color, version)


def build_and_push(
    run: Run, version: str, project: compose.Project, password: str | None, *, at_once: bool
) -> dict[str, str]:
    """Build on the build host, push the images (at once, or one after the other: registry_reuse.push_at_once),
    read their digests: service -> `registry/name@sha256:...`."""
    env, host = run.env, run.env.build_host
    services = env.app.color_services
    run.executor.run(host, compose.build(project, services), stream=True, what=f"build {version} on {host.name}")
    pushes, digests = [], []
    for service in services:
        local = docker_images.tagged(env.image_name(service), version)
        remote = docker_images.tagged(repository(run, service), version)
        pushes.append(f"{docker_images.tag(local, remote)} && {docker_images.push(remote)}")
        digests.append(docker_images.repo_digests(remote))
    names = [repository(run, service) for service in services]
    push = docker_images.at_once(pushes) if at_once else " && ".join(pushes)
    fact = docker_images.pushed(_logged_in(run, [push, *digests]), names, version)
    pinned = dict(zip(services, run.executor.read(host, fact, stdin=password), strict=True))
    run.out.ok(f"{version} built once on {host.name}: {describe_images(pinned)}")
    return pinned


def pull_everywhere(run: Run, version: str, pinned: dict[str, str], password: str | None) -> None:
    """Every app host pulls each image by digest (unless it has it already) and names it `name:version` for
    compose: the hosts in parallel, each host's images at once."""
    env = run.env
    pulls = [
        f"{docker_images.pull_missing(reference)} && "
        + docker_images.tag(reference, docker_images.tagged(env.image_name(service), version))
        for service, reference in pinned.items()
    ]
    run.executor.run_parallel(
        env.app_hosts,
        _logged_in(run, [docker_images.at_once(pulls)]),
        stdin=password,
        what=f"pull {version} images by digest",
    )


def ensure_pinned(run: Run, state: DeployState, version: str, color: Color) -> dict[str, str]:
    """A version being started again (rollback): pull its recorded digests; unrecorded: ship it."""
    pinned = state.version_images.get(version, {})
    if run.env.images.build == "once" and pinned:
        pull_everywhere(run, version, pinned, registry_password(run))
        return dict(pinned)
    return ship(run, version, colour_projects(run, color, version))


def running(run: Run, host: Host, color: Color, service: str) -> list[str]:
    """The RepoDigests of the image the colour's service runs on the host (read through the executor)."""
    return run.executor.read(host, docker_images.running_image(f"{run.env.app.project}-{color}", service))


def verify_images(run: Run) -> None:
    """verify.images: fails naming every host, colour and service whose container runs other bytes."""
    from ghosttasks.records.state_store import Store

    state = Store(run).load()
    if not any(info.images for info in state.colors.values()):
        run.out.warn("no image digests recorded (images.build: on-hosts, or nothing deployed with build: once)")
        return
    problems = check_running(run, state)
    if problems:
        raise OperationFailed(
            "running images differ from the recorded digests: " + "; ".join(problems),
            hint="redeploy the version (inv deploy.prod) or roll back; see inv deploy.status",
        )


def check_running(run: Run, state: DeployState) -> list[str]:
    """Every colour with recorded digests runs exactly them on every app host; the problems. A worker
    (app.workers) is checked where it runs: it runs only where and while its colour serves (verify.workers
    judges that)."""
    problems = []
    for color, info in state.colors.items():
        if info.failed_version:  # a failed deploy's containers: not what the state records
            problems.append(f"{color}: a failed deploy of {info.failed_version} left its containers; not checked")
            continue
        for service, reference in sorted(info.images.items()):
            for host in run.env.app_hosts:
                found = running(run, host, color, service)
                if not found and service in run.env.app.workers:
                    continue
                if reference not in found:
                    runs = ", ".join(found) or "no pinned image"
                    problems.append(f"{host.name} {color} {service}: runs {runs}, not {reference}")
                else:
                    run.out.ok(f"{host.name} {color} {service}: {reference}")
    return problems


# -- retention ---------------------------------------------------------------------------------------


def prune_after_deploy(run: Run, state: DeployState) -> None:
    """Retention after a successful deploy; a failure here is a warning (the deploy itself succeeded)."""
    try:
        prune(run, state, keep=run.env.images.keep)
    except (OperationFailed, ValueError) as exc:
        run.out.warn(f"pruning old versions failed (the deploy succeeded): {exc}; retry: inv deploy.prune")


def prune(run: Run, state: DeployState, *, keep: int, dry_run_only: bool = False) -> dict:
    """Remove the release worktrees and images of versions retention does not keep, on every app host."""
    env = run.env
    repositories = {env.image_name(s) for s in env.app.color_services}
    if env.images.registry:
        repositories |= {repository(run, s) for s in env.app.color_services}
    hosts = {host.name: _prune_host(run, state, host, keep, repositories, dry_run_only) for host in env.app_hosts}
    return {"keep": sorted(retention.colour_versions(state)), "last": keep, "hosts": hosts}


def _prune_host(run: Run, state: DeployState, host: Host, keep: int, repositories: set[str], only_list: bool) -> dict:
    env = run.env
    releases = env.releases_dir(host)
    worktrees = run.executor.read(host, git.worktrees(env.app_dir(host)))
    held = {path.rsplit("/", 1)[1]: path for path in worktrees if path.startswith(releases + "/")}
    held = {version: path for version, path in held.items() if VERSION_RE.fullmatch(version)}
    tags, pins = run.executor.read(host, docker_images.references(repositories))
    on_host = set(held) | {tag.rsplit(":", 1)[1] for tag in tags if VERSION_RE.fullmatch(tag.rsplit(":", 1)[1])}
    removed = retention.to_remove(state, keep, on_host)
    kept = sorted(retention.keep_set(state, keep, on_host))
    names = retention.image_names_to_remove(state, removed, kept, sorted(repositories), tags | pins)
    dirs = [held[version] for version in removed if version in held]
    release_kib = run.executor.read(host, docker_images.release_kib(dirs))
    result: dict[str, object] = {"remove": removed, "images": names, "worktrees": dirs}
    if only_list or not removed:
        return result
    before = run.executor.read(host, docker_images.space())
    for path in dirs:
        run.executor.run(host, git.remove_release(env.app_dir(host), path), what=f"remove {path}")
    run.executor.run(host, docker_images.remove(names), what=f"remove images of {', '.join(removed)}")
    after = run.executor.read(host, docker_images.space())
    result["freed_bytes"] = max(0, before - after) + release_kib * 1024
    run.out.info(f"{host.name}: removed {', '.join(removed)}, freed {result['freed_bytes'] / 1e6:.1f} MB")
    return result
