"""Moving traffic on the LB: render the upstream, swap it in, test, reload; verify through the LB; traffic.switch."""

from __future__ import annotations

from ghosttasks.commands import nginx, render
from ghosttasks.decisions.migration_plan import plan_switch
from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.masking import mask
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.access import check_access
from ghosttasks.flows.guard import guarded
from ghosttasks.flows.health import wait_for_color
from ghosttasks.flows.migrate import apply, database_revision, knowledge, record_revision
from ghosttasks.flows.reality import reconciled_state, settle
from ghosttasks.records.state_store import Store


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
    read = nginx.read_config(paths, env.flag_path)
    assumed = "".join(f"{content}{nginx.CONFIG_MARK}\n" for content in wanted) + (
        "blue\n" if color == "green" else "green\n"
    )
    answer = run.executor.run(env.lb_host, read, what="read the LB config", assume=assumed).stdout
    live, _ = nginx.parse_config(answer, len(paths))
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


def install_config(run: Run, paths: list[str], contents: list[str]) -> None:
    """Upload, stage and swap in every file, `nginx -t` (restore all on failure), reload.

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
    run.executor.run(env.lb_host, nginx.reload(lb.nginx, lb.nginx_conf, sudo=sudo), what="nginx reload")


def verify_lb(run: Run, color: Color, version: str | None, *, samples: int = 10, deadline: float = 15) -> None:
    """The LB answers only from `color` (and `version`): sampled until consistent or the deadline."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    url = run.env.lb_health_url
    description = f"GET {url} {way(run.env, url)} x{samples} on new connections: every answer from {color}" + (
        f" {version}" if version else ""
    )

    def sample_until_consistent() -> probes.TrafficSample:
        # after a config change nginx reloads asynchronously (old workers may answer once more): sample again.
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


def switch(run: Run, color: Color) -> DeployState:
    """traffic.switch: send traffic to `color` after checking it is healthy on every app host.

    Planned first: a colour with no good version is refused; when its version's schema head is ahead of
    the database, the database is upgraded (verified backup first) before traffic moves.
    """
    store = Store(run)
    with guarded(run, store, version=None, reason=f"switch traffic to {color}") as entry:
        with run.step("plan switch"):
            check_access(run, run.env.hosts)
            state = reconciled_state(run, store, entry)
            current = database_revision(run)
            plan = plan_switch(state, knowledge(run, state), current, color)
            entry.update(color=color, version=plan.version, previous_color=state.active)
            if state.active == color:
                run.note(f"{color} is already active; re-rendering and verifying")
            if plan.before:
                run.note(plan.before.describe())
        previous = state.active
        previous_version = state.colors[previous].runs if previous and previous != color else None
        try:
            with run.step(f"health check {color}"):
                wait_for_color(run, color, plan.version, deadline=30)
            if plan.before:
                with run.step("upgrade database"):
                    apply(run, plan.before, label=f"switch-{plan.version}", entry=entry)
            with run.step("switch traffic"):
                switch_traffic(run, color, plan.version)
            with run.step("verify traffic"):
                verify_or_switch_back(run, color, plan.version, previous, previous_version)
            state.after_switch(color)
        except BaseException:
            state = settle(run, store, entry) or state  # where traffic really is (a switch back may have failed)
            raise
        finally:
            record_revision(run, store, state)
        return state
