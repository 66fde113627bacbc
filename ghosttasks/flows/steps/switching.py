"""Moving traffic on every LB (each host with role `lb`): flip the flag the selectors read per request, in two
phases (ghosttasks.decisions.lb_fleet), and verify each LB through its own address.

1. Before any flag moves, every LB is read at once: reachable, set up by traffic.install, which colour it serves,
   whether its config is the one the inventory renders. One LB that is not ready refuses the switch (one line
   per LB, nothing touched). A config that differs is installed on that LB (`nginx -t`, restored on failure,
   reloaded) before any flag moves.
2. Every flag flips at once (nothing is reloaded); if one could not, the others go back to what they served.
   Each LB is then verified through its own address (ghosttasks.config.inventory lb_own_health_url); if any
   fails, every LB goes back to the previous colour, and the failure says one line per LB.
"""

from __future__ import annotations

from ghosttasks.commands import nginx, render
from ghosttasks.commands.facts import Answer, Fact
from ghosttasks.config.inventory import Host
from ghosttasks.decisions import lb_fleet
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color, other
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.masking import mask
from ghosttasks.execution import probes
from ghosttasks.execution.executor import Probe
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.canary_split import clear_canary


def switch_traffic(
    run: Run, color: Color, version: str, views: list[tuple[list[str], str] | str] | None = None
) -> dict[str, Color]:
    """Send traffic to `color` on every LB (then clear any canary: every client on `color`); returns the colour
    each served before.

    Phase one reads every LB at once and refuses, touching none, when one is unreachable or was never set up.
    The config changes only when hosts or ports change; only then is it uploaded, tested with `nginx -t`
    (restored on failure) and reloaded, on that LB, before any flag moves. The flip itself reloads nothing:
    in-flight and keep-alive connections are untouched. A flag that cannot be moved on one LB sends the
    others back to what they served and fails with one line per LB. `views`: phase one's reads (fleet_fact, one
    per LB in order) when the caller read them already with its other reads (traffic.switch's plan).
    """
    env = run.env
    if env.lb is None:
        raise OperationFailed(f"environment {env.name} has no lb: there is no traffic to switch")
    if views is None:
        views = run.executor.read_parallel(env.lb_hosts, lambda host: fleet_fact(run, color))
    before, live = judge_fleet(run, views)
    wanted = rendered(run)
    select = nginx.set_flag(env.flag_path, color)
    for host in env.lb_hosts:
        if live[host.name] != wanted:
            if not (live[host.name] and live[host.name][1]):
                # No selector yet (first switch, or a config from before the flag): that config ignores the flag,
                # so set it first and the new config comes up on the right colour.
                run.executor.run(host, select, what=f"select {color}")
            # With a selector in place the flag moves only after nginx accepted the new config.
            install_config(run, host, config_paths(run), wanted)
    errors = flip(run, env.lb_hosts, color)
    outcome = lb_fleet.after_flip(
        color, [lb_fleet.Flip(name, error is None, error=error) for name, error in errors.items()]
    )
    if not outcome.ok:
        final = flip_back(run, color, outcome, {name: before[name] for name in outcome.flip_back})
        raise failure(run, final, errors)
    clear_canary(run)  # after the flags: a canary's clients were on `color` or go there now, none in between
    for host in env.lb_hosts:
        run.out.ok(f"{host.name}: nginx now sends traffic to {color} ({version})")
    return before


def fleet_fact(run: Run, color: Color) -> Fact[tuple[list[str], str] | str]:
    """Phase one's read of one LB: its config files and the colour its flag selects (a dry run assumes the
    rendered files and the other colour)."""
    return nginx.lb_view(config_paths(run), run.env.flag_path, assumed=rendered(run), selected=other(color))


def judge_fleet(run: Run, views: list[tuple[list[str], str] | str]) -> tuple[dict[str, Color], dict[str, list[str]]]:
    """Phase one's verdict on every LB's view (in the order of the LBs): (the colour each serves, its live config
    files), or OperationFailed with one line per LB that is unreachable or was never set up (nothing touched)."""
    env = run.env
    checks, before, live = [], {}, {}
    for host, view in zip(env.lb_hosts, views, strict=True):
        if isinstance(view, str):
            checks.append(lb_fleet.Readiness(host.name, reachable=False, detail=view))
            continue
        live[host.name], before[host.name] = view
        checks.append(lb_fleet.Readiness(host.name, installed=bool(view[0] and view[0][0].strip())))
    lines = lb_fleet.ready(checks)
    if lines:
        if len(env.lb_hosts) == 1 and checks[0].reachable:
            require_installed(run)  # the one LB's own message: its upstream file does not exist
        raise OperationFailed("no LB was touched:\n" + "\n".join(lines), hint=not_ready_hint(run, checks))
    return before, live


def not_ready_hint(run: Run, checks: list[lb_fleet.Readiness]) -> str:
    """What to do about the LBs that refused a switch: SSH to the unreachable ones, traffic.install for the rest."""
    name = run.env.name
    hints = []
    unreachable = [check.name for check in checks if not check.reachable]
    if unreachable:
        hints.append(f"a switch needs every LB: make {', '.join(unreachable)} reachable over SSH, then retry")
    if any(check.reachable and not check.installed for check in checks):
        hints.append(
            f"run `inv traffic.install --env {name}` first: it installs the upstream and the selector on every LB, "
            "checks the site config includes them (nginx -T) and reloads once"
        )
    return "; ".join(hints)


def flip(run: Run, hosts: list[Host], color: Color) -> dict[str, str | None]:
    """Every LB's flag to `color` at once: per LB None (moved) or why it did not."""
    select = nginx.set_flag(run.env.flag_path, color)
    results = run.executor.run_parallel(hosts, select, check=False, what=f"select {color}")
    return {result.host: None if result.ok else mask(result.describe()) for result in results}


def flip_back(run: Run, target: Color, outcome: lb_fleet.Outcome, back_to: dict[str, Color]) -> lb_fleet.Outcome:
    """Send the LBs of outcome.flip_back back (each to back_to[name], at once); the outcome with one more line per
    LB left on `target` (with the command that repairs it)."""
    hosts = [host for host in run.env.lb_hosts if host.name in back_to]
    back: dict[str, bool] = {}
    for color in sorted(set(back_to.values())):
        group = [host for host in hosts if back_to[host.name] == color]
        run.out.warn(f"switching {', '.join(host.name for host in group)} back to {color}")
        back |= {name: error is None for name, error in flip(run, group, color).items()}
    return lb_fleet.after_flip_back(back_to, target, outcome, back)


def failure(run: Run, final: lb_fleet.Outcome, errors: dict[str, str | None]) -> OperationFailed:
    """The switch's failure: one line per LB (with one LB and no split, its own error as it always read)."""
    if len(run.env.lb_hosts) == 1 and not final.split:
        return OperationFailed(next(error for error in errors.values() if error))
    return OperationFailed(
        "the switch failed, one line per LB:\n" + "\n".join(final.failures),
        hint=f"the lines name each LB; `inv traffic.status --env {run.env.name}` reads them",
    )


def rendered(run: Run) -> list[str]:
    """The LB config the inventory renders: the upstreams of both colours and the selector."""
    return [render.upstream(run.env), render.selector(run.env)]


def config_paths(run: Run) -> list[str]:
    """Where the rendered files live on every LB."""
    env = run.env
    assert env.lb is not None
    return [env.lb.upstream_path, env.selector_path]


def lb_config_current(run: Run) -> bool:
    """The state LB's config files are the ones the inventory renders (the flag aside)."""
    env = run.env
    wanted = rendered(run)
    current = nginx.lb_config(config_paths(run) if env.lb else [], env.flag_path, assumed=wanted, selected="blue")
    return run.executor.read(env.lb_host, current) == wanted


def install_config(run: Run, host: Host, paths: list[str], contents: list[str]) -> None:
    """Upload, stage and swap in every file on one LB, `nginx -t` (restore all on failure), reload."""
    stage_and_test(run, host, paths, contents)
    lb = run.env.lb
    assert lb is not None
    run.executor.run(host, nginx.reload(lb.nginx, lb.nginx_conf, sudo=lb.sudo), what="nginx reload")


def stage_and_test(run: Run, host: Host, paths: list[str], contents: list[str]) -> None:
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
            run.executor.put(host, content, nginx.upload_path(path), mode=0o600)
            stage = nginx.stage_as_root(path, owner=owner, group=group)
            run.executor.run(host, stage, what=f"stage {path} (sudo install)")
        else:
            run.executor.put(host, content, nginx.staged_path(path), mode=nginx.UPSTREAM_MODE)
    swap = " && ".join(nginx.swap_in(path, sudo=sudo) for path in paths)
    run.executor.run(host, swap, what="install the new LB config")
    tested = run.executor.run(host, nginx.test(lb.nginx, lb.nginx_conf, sudo=sudo), check=False)
    if not tested.ok:
        restore = "; ".join(nginx.restore_previous(path, sudo=sudo) for path in paths)
        run.executor.run(host, restore, what="restore the previous LB config")
        raise OperationFailed(
            f"nginx -t rejected the new LB config on {host.name}; the previous files were restored and "
            f"nginx was not reloaded: {mask(tested.describe())}",
            hint="check the nginx configuration on that LB host, then retry",
        )


def require_installed(run: Run) -> None:
    """Every LB is reachable and has the upstream file ghosttasks renders: an LB that never had it is set up by
    traffic.install (installing it in the middle of a switch would meet a site config that may not include it).
    The preflight of every switching task: one line per LB that is not ready, before anything is touched."""
    if run.env.lb is None:
        return
    fact = installed_fact(run)
    results = run.executor.run_parallel(run.env.lb_hosts, fact.command, check=False, what=fact.what)
    judge_installed(run, results)


def installed_fact(run: Run) -> Fact[list[str]]:
    """The read require_installed judges on each LB: which of the upstream file is missing."""
    env = run.env
    assert env.lb is not None
    return nginx.missing_files([env.lb.upstream_path])


def judge_installed(run: Run, results: list[Answer]) -> None:
    """require_installed's verdict on every LB's answer to installed_fact (in the order of the LBs)."""
    env = run.env
    assert env.lb is not None
    upstream = env.lb.upstream_path
    fact = installed_fact(run)
    checks = [
        lb_fleet.Readiness(result.host, reachable=False, detail=result.describe())
        if not result.ok
        else lb_fleet.Readiness(result.host, installed=upstream not in fact.parse(result))
        for result in results
    ]
    if len(checks) == 1 and checks[0].reachable and not checks[0].installed:
        raise OperationFailed(
            f"{checks[0].name} has never been set up by ghosttasks: {upstream} (lb.upstream_path) does not exist",
            hint=not_ready_hint(run, checks),
        )
    lines = lb_fleet.ready(checks)
    if lines:
        raise OperationFailed("no LB was touched:\n" + "\n".join(lines), hint=not_ready_hint(run, checks))


def verify_lb(run: Run, color: Color, version: str | None, *, samples: int = 10, deadline: float = 15) -> None:
    """Every LB answers only from `color` and `version` (verify_each); the first failure raises."""
    errors = verify_each(run, color, version, samples=samples, deadline=deadline)
    failed = [(name, error) for name, error in errors.items() if error]
    if len(run.env.lb_hosts) == 1 and failed:
        raise OperationFailed(failed[0][1])
    if failed:
        lines = "\n".join(f"{name}: {error}" for name, error in failed)
        raise OperationFailed(f"{len(failed)} of {len(run.env.lb_hosts)} LBs failed their traffic check:\n{lines}")


def verify_each(
    run: Run,
    color: Color,
    version: str | None,
    *,
    samples: int = 10,
    deadline: float = 15,
    hosts: list[Host] | None = None,
) -> dict[str, str | None]:
    """Each LB, through its own address, at once: it answers only from `color` (read from the selector's colour
    header, lb.color_header) and `version` (as health.version_from reads it; `none`: the colour alone, the images
    were checked before), sampled until consistent or the deadline. Per LB None (verified) or why not; answers
    without the colour header say what to check in nginx."""
    env = run.env
    assert env.lb is not None
    version = version if env.health.version_from != "none" else None
    hosts = env.lb_hosts if hosts is None else hosts
    samples_taken = run.executor.probe_all([lb_probe(run, host, color, version, samples, deadline) for host in hosts])
    errors: dict[str, str | None] = {}
    for host, sample in zip(hosts, samples_taken, strict=True):
        if sample.uncoloured:
            errors[host.name] = missing_color_header(run, sample, host)
        elif not sample.only(color, version):
            errors[host.name] = f"traffic check failed: {sample.summary()}"
        else:
            errors[host.name] = None
            name = "LB" if len(env.lb_hosts) == 1 else host.name
            run.out.ok(
                f"{name} verified: {sample.summary()}" + ("" if version else " (version: checked from the images)")
            )
    return errors


def lb_probe(
    run: Run, host: Host, color: Color, version: str | None, samples: int, deadline: float
) -> Probe[probes.TrafficSample]:
    """Sample one LB through its own address until every answer is from `color` (`version`) or the deadline."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    env = run.env
    assert env.lb is not None
    url, header = env.lb_own_health_url(host), env.lb.color_header
    said = f" {version}" if version else " (version: not configured in the answers)"
    description = f"GET {url} {way(env, url)} x{samples} on new connections: every answer from {color}{said}"
    description += f", colour from the {header} header"
    client = run.executor.http_client(url)

    def sample_until_consistent() -> probes.TrafficSample:
        # after a config change nginx reloads asynchronously (old workers may answer once more): sample again.
        retrying = Retrying(
            stop=stop_after_delay(deadline),
            wait=wait_fixed(0.2),
            retry=retry_if_result(lambda sample: not sample.only(color, version)),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return retrying(
            lambda: probes.sample_traffic(
                url, samples, client=client, concurrent=True, contract=env.health, color_header=header
            )
        )

    assumed = probes.TrafficSample(url, color_header=header)
    assumed.answers[(color, version)] = samples
    return Probe(description, sample_until_consistent, assumed)


def missing_color_header(run: Run, sample: probes.TrafficSample, host: Host | None = None) -> str:
    """Why answers through the LB carried no colour header, and where to look (not "wrong colour")."""
    env = run.env
    assert env.lb is not None
    return (
        f"{sample.uncoloured} of {sample.total} answers through the LB carry no {env.lb.color_header} header "
        f"({sample.summary()}): nginx drops the selector's server-level add_header in any location that sets its "
        f"own add_header; check `nginx -T` on {(host or env.lb_host).name} and include {env.selector_path} in each "
        "such location"
    )


def verify_or_switch_back(
    run: Run, target: Color, version: str, previous: Color | None, previous_version: str | None
) -> None:
    """Every LB answers from the new colour through its own address; if one does not, every LB goes straight
    back to the previous colour and the failure names each LB."""
    errors = verify_each(run, target, version)
    if not any(errors.values()):
        return
    flips = [lb_fleet.Flip(name, True, verified=error is None, error=error) for name, error in errors.items()]
    outcome = lb_fleet.after_flip(target, flips)
    if previous and previous_version:
        run.out.warn(f"switching back to {previous} ({previous_version})")
        outcome = flip_back(run, target, outcome, dict.fromkeys(outcome.flip_back, previous))
    raise failure(run, outcome, errors)


def emergency_flip(run: Run, color: Color) -> tuple[int, list[str], list[Host]]:
    """The emergency rollback's flip: every LB at once, no phase one (an unreachable LB must not stop the
    others); the exit code, one line per LB (ghosttasks.decisions.lb_fleet.emergency) and the LBs flipped."""
    errors = flip(run, run.env.lb_hosts, color)
    code, lines = lb_fleet.emergency(color, errors)
    flipped = [host for host in run.env.lb_hosts if errors[host.name] is None]
    clear_canary(run, flipped, check=False)  # a canary's clients follow the flag too (best effort)
    return code, lines, flipped
