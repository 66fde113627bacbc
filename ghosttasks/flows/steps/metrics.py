"""The triggers' data (hosts.yml `metrics:`): the error rate and p95 of one colour, from Prometheus or from the
LB's access log, and the check before a switch that the serving colour's numbers can be read at all.

Sources (metrics.source): `prometheus` asks the query templates (ghosttasks.domain.metric_queries) filled in for
the colour, its version and monitoring.rate_window; `access_log` reads the window's lines of the access log the
selector makes nginx write (the users' real requests; ghosttasks.commands.access_log) on the LB over SSH; `none`
measures nothing. `auto` is `prometheus` when monitoring.prometheus_url is set, else `access_log`, and falls back
to the access log while Prometheus is unreachable (saying so once).

Nothing passes in silence: a measurement that cannot be taken comes back as None with why (`no series`,
`not configured`, `Prometheus unreachable`, `no requests in the window`), and the callers show and record it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ghosttasks.commands import access_log
from ghosttasks.decisions.probe_routes import way
from ghosttasks.decisions.traffic_window import traffic, window_seconds
from ghosttasks.decisions.triggers import ERROR_RATE, NO_REQUESTS, NOT_CONFIGURED, P95, judge_series
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import GhostError, OperationFailed
from ghosttasks.domain.metric_queries import fill
from ghosttasks.execution import probes
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.switching import lb_config_current

REQUESTS = "requests"
HINT = (
    "check metrics.preset / metrics.error_rate_query / metrics.p95_query (the app's metric and label names, the "
    "`color` label of the scrape config) or metrics.source; metrics.without_series: continue deploys without them"
)


@dataclass
class Measured:
    """One colour's error rate and p95 as read now, where from, and why a value is missing."""

    error_rate: float | None = None
    p95: float | None = None
    source: str = ""
    unjudged: dict[str, str] = field(default_factory=dict)
    requests: float | None = None  # requests in the window, when asked for (a canary reading); else None


def source_of(run: Run) -> str:
    """The source in force: prometheus, access_log or none (auto resolved)."""
    metrics = run.env.metrics
    if metrics.source == "auto":
        return "prometheus" if run.env.monitoring.prometheus_url else "access_log"
    return metrics.source


class MetricsReader:
    """Reads one colour's error rate and p95 from the configured source, each time it is asked."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.source = source_of(run)
        self.fallback_said = False

    def read(self, color: Color, version: str | None, *, count: bool = False) -> Measured:
        """The colour's error rate and p95 (with `count`, also its requests in the window)."""
        if self.source == "none":
            return Measured(source="metrics.source: none", unjudged={ERROR_RATE: NOT_CONFIGURED, P95: NOT_CONFIGURED})
        if self.source == "access_log":
            return read_access_log(self.run, color)
        measured = read_prometheus(self.run, color, version, count=count)
        if measured.source == "prometheus" or self.run.env.metrics.source != "auto":
            return measured
        if not self.fallback_said:  # auto: Prometheus is down, the LB's own log still sees the traffic
            self.run.out.warn(f"{measured.unjudged[ERROR_RATE]}: reading the LB access log instead")
            self.fallback_said = True
        return read_access_log(self.run, color)


def read_prometheus(run: Run, color: Color, version: str | None, *, count: bool = False) -> Measured:
    """The colour's two trigger queries from Prometheus (with `count`, the requests query too: no series is 0
    requests); source `Prometheus unreachable` when it cannot ask."""
    env = run.env
    url = env.monitoring.prometheus_url
    measured = Measured(source="prometheus")
    if not url:
        measured.unjudged = {ERROR_RATE: "no monitoring.prometheus_url", P95: "no monitoring.prometheus_url"}
        measured.source = "Prometheus unreachable"
        return measured
    client = run.executor.http_client(url)
    templates = env.metrics.templates
    asked = [(ERROR_RATE, templates.error_rate), (P95, templates.p95)]
    for name, template in asked + ([(REQUESTS, templates.requests)] if count else []):
        try:
            query = fill(template, color=color, version=version, window=env.monitoring.rate_window)
        except ValueError as exc:
            measured.unjudged[name] = str(exc)
            continue
        try:
            values = probes.prometheus_vector(url, query, client=client)
        except Exception as exc:  # any failure of the monitoring stack: not judged, and said why
            reason = f"Prometheus unreachable ({type(exc).__name__}: {exc})"
            measured.source = "Prometheus unreachable"
            return Measured(source=measured.source, unjudged={ERROR_RATE: reason, P95: reason})
        value, why = judge_series(values)
        if name == REQUESTS:
            measured.requests = value if value is not None else 0.0
            continue
        setattr(measured, "error_rate" if name == ERROR_RATE else "p95", value)
        if why:
            measured.unjudged[name] = why
    return measured


def read_access_log(run: Run, color: Color) -> Measured:
    """The colour's requests in the window from the LB access log (read over SSH, judged here)."""
    env = run.env
    seconds = window_seconds(env.monitoring.rate_window)
    try:
        found = run.executor.read(env.lb_host, access_log.window(env.access_log_path, seconds))
    except GhostError as exc:
        reason = f"access log unreadable ({exc})"
        return Measured(source="LB access log", unjudged={ERROR_RATE: reason, P95: reason})
    if found.problem or found.now is None:
        reason = f"no access log ({env.access_log_path} {found.problem})"
        return Measured(source="LB access log", unjudged={ERROR_RATE: reason, P95: reason})
    served = traffic(found.lines, color, now=found.now, seconds=seconds)
    measured = Measured(
        served.error_rate, served.p95, f"LB access log, {served.requests} requests", requests=served.requests
    )
    if not served.requests:
        measured.unjudged = {ERROR_RATE: NO_REQUESTS, P95: NO_REQUESTS}
    return measured


def describe_source(run: Run, color: Color, version: str | None) -> str:
    """Where the error rate and p95 of `color` come from, in words (for plans and the monitor's plan line)."""
    env = run.env
    source = source_of(run)
    if source == "none":
        return "error rate and p95: not configured (metrics.source: none)"
    log = f"the LB access log {env.access_log_path} (last {env.monitoring.rate_window}, {color}'s requests)"
    if source == "access_log":
        return f"error rate and p95 of {color} from {log}"
    url = env.monitoring.prometheus_url or ""
    fallback = f", else {log}" if env.metrics.source == "auto" else ""
    return (
        f"error rate and p95 of {color} {version or '?'} from Prometheus {way(env, url)} "
        f"(metrics.preset {env.metrics.preset}){fallback}"
    )


def check_serving(run: Run, state: DeployState) -> None:
    """Before a switch: the serving colour's trigger queries must return series, else the monitor after the
    switch could judge nothing. Refused (metrics.without_series: refuse) or said, trigger by trigger (continue).

    Nothing serving yet (a first deploy): said, and the deploy goes on. metrics.source none: `not configured`.
    """
    env = run.env
    serving = state.active
    source = source_of(run)
    if source == "none":
        for name in (ERROR_RATE, P95):
            run.not_judged(name, f"{NOT_CONFIGURED} (metrics.source: none): no automatic rollback on it")
        return
    if not serving:
        run.note("metrics: nothing serves yet (first deploy): the triggers are first read on the new colour")
        return
    version = state.colors[serving].version
    if run.dry_run:
        plan_serving_check(run, serving, version)
        return
    measured = MetricsReader(run).read(serving, version)
    missing = {name: why for name, why in measured.unjudged.items() if why != NO_REQUESTS}
    if missing and source == "access_log" and not lb_config_current(run):
        run.note(
            f"metrics: the LB does not write its access log yet ({env.access_log_path}): the config that does is "
            "installed with this switch, and the monitor reads it from then on"
        )
        return
    if not missing:
        quiet = " (no requests in the window, but the source answers for it)" if measured.unjudged else ""
        run.out.ok(f"metrics: {serving}'s error rate and p95 can be read from {measured.source}{quiet}")
        return
    said = ", ".join(f"{name}: {why}" for name, why in missing.items())
    if env.metrics.without_series == "refuse":
        raise OperationFailed(
            f"the rollback triggers cannot be judged: {serving} ({version}) serves but its {said}; "
            "not deploying (nothing was switched)",
            hint=HINT,
        )
    for name, why in missing.items():
        run.not_judged(name, f"{why} on {serving}: no automatic rollback on it (metrics.without_series: continue)")


def plan_serving_check(run: Run, serving: Color, version: str | None) -> None:
    """A dry run's lines for check_serving: each query (or the log read) it would make, and what no series does."""
    env = run.env
    refuse = "refuse the deploy" if env.metrics.without_series == "refuse" else "go on without that trigger"
    if source_of(run) == "access_log":
        run.executor.read(
            env.lb_host, access_log.window(env.access_log_path, window_seconds(env.monitoring.rate_window))
        )
        run.executor.note(f"no access log there: {refuse} (metrics.without_series: {env.metrics.without_series})")
        return
    url = env.monitoring.prometheus_url or ""
    templates = env.metrics.templates
    for name, template in ((ERROR_RATE, templates.error_rate), (P95, templates.p95)):
        try:
            query = fill(template, color=serving, version=version, window=env.monitoring.rate_window)
        except ValueError as exc:
            query = f"({exc})"
        run.executor.probe(
            f"{name} of the serving {serving} {version or '?'} from Prometheus {way(env, url)}: {query}; "
            f"no series: {refuse} (metrics.without_series: {env.metrics.without_series})",
            lambda: None,
            assume=None,
        )
