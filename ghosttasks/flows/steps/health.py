"""Waiting for a colour (or the single stack) to answer healthy on every app host."""

from __future__ import annotations

import threading
import time

from ghosttasks.config.inventory import Host
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Probe
from ghosttasks.execution.run import Run


def wait_for_color(run: Run, color: Color | None, version: str | None, *, deadline: float) -> None:
    """Every app host's services with a health path answer healthy (with the expected version) within the deadline.

    All hosts and services are probed at once, under one deadline for the whole wait: 2 hosts x 2
    services with a 180 s deadline take at most about 180 s, not four times that.
    """
    env = run.env
    urls = [
        (target, service, env.health_url(target, service, color))
        for target in env.app_hosts
        for service in env.app.health_paths
        if service in (env.app.color_ports.get(color, {}) if color else env.app.ports)
    ]
    started = time.monotonic()
    ends = started + deadline
    stop = threading.Event()

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
        )
        if stop.is_set():
            return health
        if health.ok:
            run.out.ok(f"{name}: healthy after {health.attempts} attempt(s) ({health.summary()})")
        else:
            run.out.fail(f"{name}: {health.summary()}")
        return health

    checks = [
        Probe(
            f"GET {url} {way(env, url)} until HTTP 200, status ok" + (f", version {version}" if version else ""),
            lambda target=target, service=service, url=url: wait(target, service, url),
            probes.Health(url, True, 200, {"status": "ok", "version": version, "color": color}),
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
