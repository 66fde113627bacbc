"""Waiting for a colour (or the single stack) to answer healthy on every app host."""

from __future__ import annotations

import threading
import time

from ghosttasks.commands import docker_images
from ghosttasks.config.inventory import Host
from ghosttasks.decisions import health_answers
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Probe
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.build_once import running


def wait_for_color(
    run: Run,
    color: Color | None,
    version: str | None,
    *,
    deadline: float,
    pinned: dict[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Every app host's web-facing services answer healthy (health: settings, with the expected version) within
    the deadline. With `health.version_from: none` the answers cannot name the version: once healthy, the
    containers' images are checked instead (check_images; `pinned`: the digests recorded with build once).

    All hosts and services are probed at once, under one deadline for the whole wait: 2 hosts x 2
    services with a 180 s deadline take at most about 180 s, not four times that.
    """
    env = run.env
    contract = env.health
    urls = [
        (target, service, env.health_url(target, service, color))
        for target in env.app_hosts
        for service in env.app.health_paths
        if service in (env.app.color_ports.get(color, {}) if color else env.app.ports)
    ]
    started = time.monotonic()
    ends = started + deadline
    stop = cancel or threading.Event()

    def wait(target: Host, service: str, url: str) -> probes.Health:
        name = f"{target.name} {service}"
        policy = probes.RetryPolicy(deadline=max(0.0, ends - time.monotonic()))
        health = probes.wait_healthy(
            url,
            expect_version=version,
            policy=policy,
            log=lambda line: run.out.info(f"{name} {url}: {line}"),
            client=run.executor.http_client(url),
            cancel=stop,
            contract=contract,
        )
        if stop.is_set():
            return health
        if health.ok:
            run.out.ok(f"{name}: healthy after {health.attempts} attempt(s) ({health.summary()})")
        else:
            run.out.fail(f"{name}: {health.summary()}")
        return health

    expected = health_answers.expectation(contract, version)
    assumed = health_answers.Judged(True, version=version, version_said=version or "not read")
    checks = [
        Probe(
            f"GET {url} {way(env, url)} until {expected}",
            lambda target=target, service=service, url=url: wait(target, service, url),
            probes.Health(url, True, 200, judged=assumed),
        )
        for target, service, url in urls
    ]
    try:
        answers = run.executor.probe_all(checks)
    finally:
        stop.set()  # on Ctrl-C: the probes still waiting in their threads stop at once
    failed = [
        (target, service, url, health)
        for (target, service, url), health in zip(urls, answers, strict=True)
        if not health.ok
    ]
    if failed:
        failures = [f"{target.name} {service}: {health.error}" for target, service, _, health in failed]
        raise OperationFailed(
            f"{color or 'the new version'} never became healthy within {deadline:.0f} s "
            f"(waited {time.monotonic() - started:.0f} s): {'; '.join(failures)}",
            hint=_hint(run, color, [(url, health) for _, _, url, health in failed]),
        )
    if version and contract.version_from == "none":
        check_images(run, color, version, pinned or {})


def check_images(run: Run, color: Color | None, version: str, pinned: dict[str, str]) -> None:
    """health.version_from none: the answers cannot say the version, so every app host's per-colour containers
    must run the version's image: the digest recorded at build (build once), else the local `<name>:<version>`
    (the very image id the tag names now). Each line says which check was made."""
    env = run.env
    project = f"{env.app.project}-{color}" if color else env.app.project
    # workers (app.workers) follow the traffic: not running in a colour about to be switched to
    services = [service for service in env.app.colour_up_services if color or service in env.app.ports]
    problems = []
    for target in env.app_hosts:
        for service in services:
            name = f"{target.name} {color or ''} {service}".replace("  ", " ")
            reference = pinned.get(service)
            if reference and color:
                digests = running(run, target, color, service)
                if reference in digests:
                    run.out.ok(f"{name}: runs {reference} (version from the image: digest recorded at build)")
                else:
                    problems.append(f"{name}: runs {', '.join(digests) or 'no pinned image'}, not {reference}")
                continue
            tag = docker_images.tagged(env.image_name(service), version)
            images = run.executor.read(target, docker_images.container_images(project, service, tag))
            if images.matches():
                short = (images.expected_id or "")[:19]
                run.out.ok(f"{name}: runs {tag} ({short}; version from the image: tag {tag})")
            elif images.problem:
                problems.append(f"{name}: {images.problem}")
            elif images.expected_id is None:
                problems.append(f"{name}: there is no image {tag} on the host (version from the image: tag)")
            else:
                runs = ", ".join(sorted({image[:19] for image in images.running}))
                problems.append(f"{name}: runs {runs}, not {tag} ({images.expected_id[:19]})")
    if problems:
        raise OperationFailed(
            f"{color or 'the stack'} is healthy but does not run {version} (health.version_from: none, the images "
            "were checked): " + "; ".join(problems),
            hint="see inv stack.ps and the images on those hosts (docker image ls)",
        )


def _hint(run: Run, color: Color | None, failed: list[tuple[str, probes.Health]]) -> str:
    """Where to look: the app's logs, or — when no probe got a connection at all — the way the probes went."""
    logs = f"inv stack.logs {run.env.app.roles.public}" + (f" --color {color}" if color else "")
    if any(health.connected for _, health in failed):
        return f"see its logs: {logs}"
    ways = sorted({way(run.env, url) for url, _ in failed})
    if ways == ["direct"]:
        return (
            f"no probe got a connection (they went direct from this machine): is it running ({logs})? "
            "hosts behind a bastion need ssh.jump_host (or probes.via: ssh) so that probes go through SSH"
        )
    return (
        f"no probe got a connection ({', '.join(ways)}): is it running ({logs})? "
        "can that machine reach those addresses and ports?"
    )
