"""Waiting for a colour (or the single stack) to answer healthy on every app host."""

from __future__ import annotations

from ghosttasks import probes
from ghosttasks.colors import Color
from ghosttasks.errors import OperationFailed
from ghosttasks.run import Run


def wait_for_color(run: Run, color: Color | None, version: str | None, *, deadline: float = 180) -> None:
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
