"""Blue-green production deploy and the manual traffic switch (DESIGN.md, "the main flow")."""

from __future__ import annotations

from ghosttasks import probes
from ghosttasks.commands import git
from ghosttasks.errors import OperationFailed
from ghosttasks.flows import common, monitor, verify
from ghosttasks.flows.guard import guarded
from ghosttasks.run import Run
from ghosttasks.state import ColorState, DeployState, Store


def deploy(run: Run, version: str, *, monitor_minutes: float, health_deadline: float = 180) -> DeployState:
    """Deploy `version` into the idle colour, check it, switch traffic to it, watch it, record it."""
    env = run.env
    store = Store(run)
    with guarded(run, store, version=version, reason=f"deploy {version}") as entry:
        with run.step("preflight"):
            state = store.load()
            target, previous = state.idle, state.active
            previous_version = state.colors[previous].runs if previous else None
            entry.update(color=target, previous_color=previous, previous_version=previous_version)
            run.note(f"{version} goes into {target}; {previous or 'nothing'} keeps serving until the switch")
            preflight(run, version, monitor_minutes=monitor_minutes)

        with run.step("fetch and build"):
            common.fetch_release(run, version)
            common.build_images(run, version, target)

        with run.step("backup database"):
            entry["backup"] = common.take_backup(run, version).path

        try:
            with run.step(f"start {target}"):
                common.start_color(run, target, version)

            with run.step("migrate database"):
                first = env.app_hosts[0]
                api = common.ApiTarget(first, common.color_project(run, first, target, version), target)
                serving = (
                    common.ApiTarget(first, common.color_project(run, first, previous, previous_version), previous)
                    if previous and previous_version
                    else None
                )
                head = common.migrate_to_head(run, api, version, serving=serving)
                entry["alembic_head"] = head

            with run.step(f"health check {target}"):
                common.wait_for_color(run, target, version, deadline=health_deadline)

            with run.step(f"smoke test {target}"):
                verify.smoke(run, env.health_url(env.app_hosts[0], "api", target), requests=10)

            with run.step("switch traffic"):
                if not store.still_held():
                    raise OperationFailed(
                        "the deploy lock is no longer ours (an emergency rollback froze deploys?): not switching",
                        hint="see inv deploy.status; the new colour is running but serves no traffic",
                    )
                common.switch_traffic(run, target, version)

            with run.step("verify traffic"):
                try:
                    common.verify_lb(run, target, version)
                except OperationFailed:
                    if previous and previous_version:
                        run.out.warn(f"switching back to {previous} ({previous_version})")
                        common.switch_traffic(run, previous, previous_version)
                    raise
        except BaseException:
            mark_failed(run, store, target, version)
            raise

        state.previous, state.active = previous, target
        state.colors[target] = ColorState(version, head, run.now())
        if head:
            state.version_heads[version] = head
        store.save(state)

        if monitor_minutes > 0:
            with run.step("monitor"):
                trigger = monitor.watch(run, store, state, minutes=monitor_minutes, rollback=True)
                if trigger:
                    entry["result"] = "rolled_back"
                    entry["trigger"] = trigger.describe()
                    raise OperationFailed(
                        f"automatic rollback: {trigger.describe()}; traffic is back on {previous} ({previous_version})",
                        hint=f"{target} still runs {version} for inspection: inv stack.logs api --color {target}",
                    )
        run.out.ok(f"{version} is live on {target} in {env.name}")
        return state


def mark_failed(run: Run, store: Store, color: str, version: str) -> None:
    """Record that a failed deploy left `version` in `color`: it is no longer a rollback target."""
    try:
        state = store.load()
        state.colors[color].failed_version = version
        store.save(state)
    except Exception as exc:  # never hide the deploy's own error behind this one
        run.out.warn(f"could not record the failed {color} in the deploy state: {exc}")


def preflight(run: Run, version: str, *, monitor_minutes: float) -> None:
    """The runbook's pre-deployment checklist as gates; each result is printed."""
    env = run.env
    common.check_reachable(run, env.hosts)
    first = env.app_hosts[0]
    tag = run.executor.run(first, git.remote_tag_exists(env.app_dir(first), version), check=False)
    if not tag.ok:
        raise OperationFailed(
            f"tag {version} does not exist in origin ({env.app.repo_url})",
            hint=f"create and push it first: inv deploy.tag --version {version}",
        )
    run.out.ok(f"tag {version} exists in origin")
    problems = common.check_prerequisites(run, env.app_hosts, disk_path_of=env.releases_dir)
    problems += common.check_prerequisites(run, [env.db_host], disk_path_of=lambda _host: env.database.backup_dir)
    if problems:
        raise OperationFailed(f"prerequisites not met: {'; '.join(problems)}")
    common.require_env(run, env.app_hosts)
    if monitor_minutes > 0 and env.monitoring.prometheus_url:
        url = env.monitoring.prometheus_url.rstrip("/") + "/-/ready"
        ready = run.executor.probe(f"GET {url}", lambda: probes.check_ready(url), assume=None)
        if ready:
            raise OperationFailed(
                f"Prometheus is not reachable ({ready}): the deploy could not be monitored",
                hint="fix monitoring, or deploy with --monitor-minutes 0 and watch by hand",
            )
        run.out.ok(f"Prometheus ready at {env.monitoring.prometheus_url}")


def switch(run: Run, color: str) -> DeployState:
    """traffic.switch: send traffic to `color` after checking it is healthy on every app host."""
    store = Store(run)
    with guarded(run, store, version=None, reason=f"switch traffic to {color}") as entry:
        with run.step("read state"):
            state = store.load()
            version = state.colors[color].runs
            if not version:
                failed = state.colors[color].failed_version
                raise OperationFailed(
                    f"{color} holds the failed deploy of {failed}: not switching to it"
                    if failed
                    else f"{color} has never been deployed in {run.env.name}: nothing to switch to",
                    hint=f"deploy it first: inv deploy.prod --env {run.env.name} --version vX.Y.Z",
                )
            entry.update(color=color, version=version, previous_color=state.active)
            if state.active == color:
                run.note(f"{color} is already active; re-rendering and verifying")
        with run.step(f"health check {color}"):
            common.wait_for_color(run, color, version, deadline=30)
        with run.step("switch traffic"):
            common.switch_traffic(run, color, version)
        with run.step("verify traffic"):
            common.verify_lb(run, color, version)
        if state.active != color:
            state.previous, state.active = state.active, color
        store.save(state)
        return state
