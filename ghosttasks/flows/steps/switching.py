"""Moving traffic on the LB: flip the flag the selector reads per request (the config is installed, tested and
reloaded only when it differs from what the inventory renders); verify through the LB."""

from __future__ import annotations

from ghosttasks.commands import nginx, render
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.masking import mask
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run


def switch_traffic(run: Run, color: Color, version: str) -> None:
    """Send traffic to `color`: make sure the LB config (both colours' upstreams and the selector) is the one
    the inventory renders, then create or remove the flag file the selector reads per request.

    The config changes only when hosts or ports change; only then is it uploaded, tested with `nginx -t`
    (restored on failure) and reloaded. The flip itself reloads nothing: in-flight and keep-alive
    connections are untouched.
    """
    env = run.env
    if env.lb is None:
        raise OperationFailed(f"environment {env.name} has no lb: there is no traffic to switch")
    wanted = [render.upstream(env), render.selector(env)]
    paths = [env.lb.upstream_path, env.selector_path]
    current = nginx.lb_config(paths, env.flag_path, assumed=wanted, selected="blue" if color == "green" else "green")
    live = run.executor.read(env.lb_host, current)
    if live and not live[0].strip():
        require_installed(run)  # no upstream at all: a first-time LB, set up by traffic.install
    select = nginx.set_flag(env.flag_path, color)
    if live != wanted:
        if not (live and live[1]):
            # No selector yet (first switch, or a config from before the flag): that config ignores the flag,
            # so set it first and the new config comes up on the right colour.
            run.executor.run(env.lb_host, select, what=f"select {color}")
        # With a selector in place the flag moves only after nginx accepted the new config.
        install_config(run, paths, wanted)
    run.executor.run(env.lb_host, select, what=f"select {color}")
    run.out.ok(f"{env.lb_host.name}: nginx now sends traffic to {color} ({version})")


def lb_config_current(run: Run) -> bool:
    """The LB's config files are the ones the inventory renders (the flag aside)."""
    env = run.env
    wanted = [render.upstream(env), render.selector(env)]
    current = nginx.lb_config(
        [env.lb.upstream_path, env.selector_path] if env.lb else [], env.flag_path, assumed=wanted, selected="blue"
    )
    return run.executor.read(env.lb_host, current) == wanted


def install_config(run: Run, paths: list[str], contents: list[str]) -> None:
    """Upload, stage and swap in every file, `nginx -t` (restore all on failure), reload."""
    stage_and_test(run, paths, contents)
    lb = run.env.lb
    assert lb is not None
    run.executor.run(run.env.lb_host, nginx.reload(lb.nginx, lb.nginx_conf, sudo=lb.sudo), what="nginx reload")


def stage_and_test(run: Run, paths: list[str], contents: list[str]) -> None:
    """Upload, stage and swap in every file, then `nginx -t`; on a rejection restore all and fail. No reload.

    With lb.sudo the uploads go to files of the login user (mode 0600) and `sudo -n install` stages them
    root-owned (lb.upstream_owner, 0644); every step after it runs with `sudo -n` (ghosttasks.commands.nginx).
    """
    env = run.env
    lb = env.lb
    assert lb is not None
    sudo = lb.sudo
    run.note(f"the LB config differs from what the inventory renders: installing it ({', '.join(paths)})")
    for path, content in zip(paths, contents, strict=True):
        if sudo:
            owner, group = lb.owner
            run.executor.put(env.lb_host, content, nginx.upload_path(path), mode=0o600)
            stage = nginx.stage_as_root(path, owner=owner, group=group)
            run.executor.run(env.lb_host, stage, what=f"stage {path} (sudo install)")
        else:
            run.executor.put(env.lb_host, content, nginx.staged_path(path), mode=nginx.UPSTREAM_MODE)
    swap = " && ".join(nginx.swap_in(path, sudo=sudo) for path in paths)
    run.executor.run(env.lb_host, swap, what="install the new LB config")
    tested = run.executor.run(env.lb_host, nginx.test(lb.nginx, lb.nginx_conf, sudo=sudo), check=False)
    if not tested.ok:
        restore = "; ".join(nginx.restore_previous(path, sudo=sudo) for path in paths)
        run.executor.run(env.lb_host, restore, what="restore the previous LB config")
        raise OperationFailed(
            f"nginx -t rejected the new LB config on {env.lb_host.name}; the previous files were restored and "
            f"nginx was not reloaded: {mask(tested.describe())}",
            hint="check the nginx configuration on the LB host, then retry",
        )


def require_installed(run: Run) -> None:
    """The LB has the upstream file ghosttasks renders: an LB that never had it is set up by traffic.install
    (installing it in the middle of a switch would meet a site config that may not include it)."""
    env = run.env
    if env.lb is None:
        return
    missing = run.executor.read(env.lb_host, nginx.missing_files([env.lb.upstream_path]))
    if missing:
        raise OperationFailed(
            f"{env.lb_host.name} has never been set up by ghosttasks: {env.lb.upstream_path} (lb.upstream_path) "
            "does not exist",
            hint=f"run `inv traffic.install --env {env.name}` first: it installs the upstream and the selector, "
            "checks the site config includes them (nginx -T) and reloads once",
        )


def verify_lb(run: Run, color: Color, version: str | None, *, samples: int = 10, deadline: float = 15) -> None:
    """The LB answers only from `color` (read from the selector's colour header, lb.color_header) and `version`
    (as health.version_from reads it; `none`: the colour alone, the images were checked before): sampled until
    consistent or the deadline. Answers without the colour header fail with what to check in nginx."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    env = run.env
    assert env.lb is not None
    url, header = env.lb_health_url, env.lb.color_header
    version = version if env.health.version_from != "none" else None
    said = f" {version}" if version else " (version: not configured in the answers)"
    description = f"GET {url} {way(env, url)} x{samples} on new connections: every answer from {color}{said}"
    description += f", colour from the {header} header"

    def sample_until_consistent() -> probes.TrafficSample:
        # after a config change nginx reloads asynchronously (old workers may answer once more): sample again.
        retrying = Retrying(
            stop=stop_after_delay(deadline),
            wait=wait_fixed(0.2),
            retry=retry_if_result(lambda sample: not sample.only(color, version)),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return retrying(
            lambda: probes.sample_traffic(url, samples, concurrent=True, contract=env.health, color_header=header)
        )

    assumed = probes.TrafficSample(url, color_header=header)
    assumed.answers[(color, version)] = samples
    sample = run.executor.probe(description, sample_until_consistent, assume=assumed)
    if sample.uncoloured:
        raise OperationFailed(missing_color_header(run, sample))
    if not sample.only(color, version):
        raise OperationFailed(f"traffic check failed: {sample.summary()}")
    run.out.ok(f"LB verified: {sample.summary()}" + ("" if version else " (version: checked from the images)"))


def missing_color_header(run: Run, sample: probes.TrafficSample) -> str:
    """Why answers through the LB carried no colour header, and where to look (not "wrong colour")."""
    env = run.env
    assert env.lb is not None
    return (
        f"{sample.uncoloured} of {sample.total} answers through the LB carry no {env.lb.color_header} header "
        f"({sample.summary()}): nginx drops the selector's server-level add_header in any location that sets its "
        f"own add_header; check `nginx -T` on {env.lb_host.name} and include {env.selector_path} in each such "
        "location"
    )


def verify_or_switch_back(
    run: Run, target: Color, version: str, previous: Color | None, previous_version: str | None
) -> None:
    """The LB answers from the new colour; if not, traffic goes straight back to the previous one."""
    try:
        verify_lb(run, target, version)
    except OperationFailed:
        if previous and previous_version:
            run.out.warn(f"switching back to {previous} ({previous_version})")
            switch_traffic(run, previous, previous_version)
        raise
