"""Post-deployment verification: health, database, Redis, smoke tests, traffic, config, monitoring, and all."""

from __future__ import annotations

import shlex
import time

from ghosttasks.commands import compose, postgres, redis_cli
from ghosttasks.commands.facts import Unread
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.scrape_targets import environment_instances, targets_of_environment
from ghosttasks.decisions.workers import judge_workers, where_they_run
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps import alerting, marking
from ghosttasks.flows.steps.build_once import verify_images
from ghosttasks.flows.steps.database_access import database_access
from ghosttasks.flows.steps.health import wait_for_color
from ghosttasks.flows.steps.logs import check_logs
from ghosttasks.flows.steps.preflight import require_env
from ghosttasks.flows.steps.projects import active_api, serving_api, serving_state, shared_project
from ghosttasks.flows.steps.reality import read_lb_color
from ghosttasks.flows.steps.smoke import smoke
from ghosttasks.flows.steps.switching import verify_lb
from ghosttasks.flows.steps.workers import configured, describe_depths, queue_depths, sightings
from ghosttasks.records.state_store import Store


def health(run: Run, color: Color | None) -> None:
    """Every app host's api and web for the colour (default: active), then the public URL."""
    env = run.env
    version, serving = None, True
    if env.app.strategy == "blue-green":
        state = Store(run).load()
        color = color or state.active
        if not color:
            raise OperationFailed(f"nothing is deployed in {env.name} yet")
        version, serving = state.colors[color].version, color == state.active
    wait_for_color(run, color, version, deadline=10)
    public = env.lb_health_url if env.lb else env.app.public_health_url
    if public and serving:
        answer = run.executor.probe(
            f"GET {public} {way(env, public)}",
            lambda: probes.check_health(
                public, contract=env.health, color_header=env.lb.color_header if env.lb else None
            ),
            assume=None,
        )
        if answer is not None and not answer.ok:
            raise OperationFailed(f"public health check failed: {answer.summary()}")
        if answer is not None:
            run.out.ok(f"public: {answer.summary()}")


def smoke_color(run: Run, color: Color | None) -> None:
    """verify.smoke: the smoke tests (built-in suite, the app's scripts) against one colour (default: the active
    one) on the first app host."""
    version = None
    if run.env.app.strategy == "blue-green":
        state = Store(run).load()
        color = color or state.active
        if not color:
            raise OperationFailed(f"nothing is deployed in {run.env.name} yet")
        version = state.colors[color].version
    smoke(run, color, version)


def database(run: Run, state: DeployState | None = None) -> None:
    """verify.db: `checks.database_command` in the serving colour's migrations-role service, else psql's
    SELECT 1 where the database's client runs: the postgres service on the db host, or a one-off container
    reaching a managed server (nothing inside the app's image)."""
    command = run.env.checks.database_command
    if command:
        configured_check(run, command, "Database", state)
        return
    db, access = run.env.database, database_access(run)
    fact = postgres.select_one(access.client, user=db.user, database=db.name)
    _judge(run, access.host, access.read(run, fact), "Database")


def redis(run: Run, state: DeployState | None = None) -> None:
    """verify.redis: `checks.redis_command` in the serving colour's migrations-role service, else `redis-cli
    ping` through the redis service on the db host (at 127.0.0.1, then at the db host's address)."""
    command = run.env.checks.redis_command
    if command:
        configured_check(run, command, "Redis", state)
        return
    if not run.env.hosts_with("db"):
        raise OperationFailed(
            "verify.redis cannot be evaluated: no host has the role 'db' to run database.redis_service in",
            hint="set checks.redis_command (run in the serving colour's migrations-role service)",
        )
    db_host, service = run.env.db_host, run.env.database.redis_service
    reasons = []
    for address in (None, db_host.address):  # the container's 127.0.0.1, then the db host's address
        answer = run.executor.read(db_host, redis_cli.ping(shared_project(run), service=service, address=address))
        if not isinstance(answer, Unread):
            _judge(run, db_host, answer, "Redis")
            return
        reasons.append(answer.reason)
    _judge(run, db_host, Unread("; ".join(reasons)), "Redis")


def workers(run: Run, window: float | None = None) -> None:
    """verify.workers: exactly the serving colour's workers run (a consumer on each of its hosts, one singleton
    in the environment), none in a restart loop (two looks `window` seconds apart), as docker shows them; and
    the queue depth of app.queue_keys."""
    env = run.env
    declared = configured(run)
    if not declared:
        raise OperationFailed(f"no workers in {env.name}: app.workers is empty")
    if env.app.strategy != "blue-green":
        raise OperationFailed(f"{env.name} is not blue-green: its workers do not follow a colour")
    window = env.checks.workers_window_seconds if window is None else window
    serving = read_lb_color(run)
    run.out.info(f"the LB serves {serving}")
    before = sightings(run, serving)
    after = before
    if window > 0:
        run.note(f"restart counts read again after {window:g} s")
        if not run.dry_run:
            time.sleep(window)
        after = sightings(run, serving)
    for line in where_they_run([host.name for host in env.app_hosts], after):
        run.out.info(f"workers {line}")
    depths = queue_depths(run)
    if isinstance(depths, Unread):
        run.not_judged("queue depth", depths.reason)
    elif depths is not None:
        run.out.info(f"queue depth: {describe_depths(depths)}")
    problems = judge_workers(declared, serving, before, after)
    if problems:
        raise OperationFailed(
            "workers: " + "; ".join(problems), hint=f"inv traffic.switch {serving} hands them over again"
        )
    restarts = "" if window > 0 else " (restarts not watched: window 0)"
    run.out.ok(f"exactly {serving}'s workers run, none restarting{restarts}")


def configured_check(run: Run, command: str, label: str, state: DeployState | None = None) -> None:
    """A configured connectivity check in the serving migrations-role container: exit status decides."""
    target = active_api(run, state) if state else serving_api(run)
    fact = compose.exec_check(target.project, run.env.app.roles.migrations, shlex.split(command), label)
    _judge(run, target.host, run.executor.read(target.host, fact), label)


def _judge(run: Run, host: Host, answer: str | Unread, label: str) -> None:
    if isinstance(answer, Unread):
        raise OperationFailed(f"{label} connectivity check failed: {answer.reason}")
    run.out.ok(f"{host.name}: {answer}")


def config(run: Run) -> None:
    """Required env vars on every app host (names only) and a valid compose configuration."""
    env = run.env
    require_env(run, env.app_hosts)
    target = serving_api(run)
    run.executor.run(target.host, compose.config_check(target.project), what="docker compose config")
    run.out.ok(f"{target.host.name}: docker compose config is valid")


def monitoring(run: Run) -> None:
    """Prometheus scrapes the serving colour's targets and evaluates the rollback rules; the alert chain to
    Alertmanager's receivers works (a test alert); the last deploy marker."""
    env = run.env
    url = env.monitoring.prometheus_url
    if not url:
        raise OperationFailed(f"no monitoring.prometheus_url for {env.name}")
    client, route = run.executor.http_client(url), way(env, url)
    targets = run.executor.probe(
        f"GET {url}/api/v1/targets {route}",
        lambda: probes.prometheus_get(url, "/api/v1/targets", client=client),
        assume={"activeTargets": []},
    )
    rules = run.executor.probe(
        f"GET {url}/api/v1/rules {route}",
        lambda: probes.prometheus_get(url, "/api/v1/rules", client=client),
        assume={"groups": []},
    )
    if run.dry_run:  # the probes' assumed answers are empty: nothing to judge, only the rest of the plan
        _alerts_and_markers(run, rules, url)
        return
    state = serving_state(run)
    active = state.active if state else None
    instances = environment_instances((host.address for host in env.app_hosts), env.app.color_ports, active)
    relevant = targets_of_environment(targets["activeTargets"], active, instances)
    down = [t["labels"].get("instance", "?") for t in relevant if t["health"] != "up"]
    rule_names = [rule["name"] for group in rules["groups"] for rule in group["rules"]]
    if not relevant:
        raise OperationFailed(f"Prometheus has no scrape targets for {active or env.name}")
    if down:
        raise OperationFailed(f"Prometheus targets down: {', '.join(down)}")
    run.out.ok(f"Prometheus: {len(relevant)} targets up" + (f" for {active}" if active else ""))
    if not rule_names:
        raise OperationFailed("Prometheus has no rules loaded (the rollback triggers)")
    run.out.ok(f"Prometheus: {len(rule_names)} rules loaded ({', '.join(sorted(rule_names))})")
    _alerts_and_markers(run, rules, url)


def _alerts_and_markers(run: Run, rules: dict, url: str) -> None:
    """The rules evaluate and reach Alertmanager, a test alert reaches its receivers; the last deploy marker."""
    alerting.rules_evaluating(run, rules, url)
    if run.env.monitoring.alertmanager_url:
        alerting.alert_chain(run, rules)
    if run.env.monitoring.pushgateway_url:
        marking.show_last(run)


def traffic(run: Run, color: Color | None) -> None:
    """Requests through the LB all answer from the expected colour (default: the active one)."""
    state = Store(run).load()
    color = color or state.active
    if not color:
        raise OperationFailed(f"nothing is deployed in {run.env.name} yet")
    verify_lb(run, color, state.colors[color].version, samples=20, deadline=5)


def all_checks(run: Run) -> None:
    """health, db, redis, smoke, traffic, images, config, logs and monitoring; stops at the first failure."""
    env = run.env
    state = serving_state(run)
    color = state.active if state else None
    with run.step("health"):
        health(run, None)
    with run.step("database"):
        database(run, state)
    with run.step("redis"):
        redis(run, state)
    with run.step("smoke tests"):
        smoke(run, color, state.colors[color].version if state and color else None)
    if env.lb:
        with run.step("traffic"):
            traffic(run, None)
    if state and any(info.images for info in state.colors.values()):
        with run.step("images"):
            verify_images(run)
    with run.step("config"):
        config(run)
    if env.app.strategy == "blue-green":
        with run.step("logs"):
            check_logs(run, None)
    if env.monitoring.prometheus_url:
        with run.step("monitoring"):
            monitoring(run)
