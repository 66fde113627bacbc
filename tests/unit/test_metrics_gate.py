"""Before the switch the serving colour's trigger queries must return series; the monitor's sources say why
when a trigger cannot be judged (nothing passes in silence). Scripted executors, Prometheus answers patched."""

import pytest

from ghosttasks.commands import access_log
from ghosttasks.config.inventory import Environment
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.flows.blue_green import deploy
from ghosttasks.flows.steps import metrics
from ghosttasks.testing import ScriptedExecutor, a_run, prod

SERVING = DeployState(
    active="green",
    previous="blue",
    colors={"blue": ColorState("v1.0.0", None, None), "green": ColorState("v1.1.0", None, None)},
)


def with_metrics(**settings) -> Environment:
    env = prod()
    return env.model_copy(update={"metrics": env.metrics.model_copy(update=settings)})


def a_real_run(env=None, *, dry_run=False):
    run = a_run(ScriptedExecutor(env or prod(), dry_run=dry_run, unscripted="assume"))
    run.outcome = HistoryEntry()
    return run


def prometheus_answers(monkeypatch, answers):
    """prometheus_vector answers by the metric name in the query; an Exception is raised."""
    asked = []

    def vector(url, query, **_):
        asked.append(query)
        answer = next(value for name, value in answers.items() if name in query)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(probes, "prometheus_vector", vector)
    return asked


def test_no_series_for_the_serving_colour_refuses_naming_the_settings(monkeypatch):
    asked = prometheus_answers(monkeypatch, {"requests_total": [], "duration": []})
    run = a_real_run()
    with pytest.raises(OperationFailed) as refused:
        metrics.check_serving(run, SERVING)
    assert str(refused.value) == (
        "the rollback triggers cannot be judged: green (v1.1.0) serves but its error rate: no series, p95: no series; "
        "not deploying (nothing was switched)"
    )
    assert "metrics.preset" in refused.value.hint and "metrics.without_series: continue" in refused.value.hint
    assert all('color="green",version="v1.1.0"' in query for query in asked) and len(asked) == 2


def test_series_without_requests_are_series(monkeypatch):
    prometheus_answers(monkeypatch, {"requests_total": [float("nan")], "duration": [float("nan")]})
    run = a_real_run()
    metrics.check_serving(run, SERVING)
    assert "green's error rate and p95 can be read from prometheus (no requests in the window, but" in run.out.printed


def test_continue_goes_on_saying_which_trigger_it_cannot_judge(monkeypatch):
    prometheus_answers(monkeypatch, {"requests_total": [0.0], "duration": []})
    run = a_real_run(with_metrics(without_series="continue"))
    metrics.check_serving(run, SERVING)
    line = "p95: no series on green: no automatic rollback on it (metrics.without_series: continue)"
    assert line in run.out.printed and "error rate:" not in run.out.printed
    assert run.outcome.unevaluated == [line]


def test_a_first_deploy_has_nothing_to_check_and_says_so(monkeypatch):
    prometheus_answers(monkeypatch, {"": AssertionError("nothing may be asked")})
    run = a_real_run()
    metrics.check_serving(run, DeployState())
    assert "nothing serves yet (first deploy)" in run.out.printed


def test_metrics_not_configured_say_so_and_never_pass_as_ok():
    run = a_real_run(with_metrics(source="none"))
    metrics.check_serving(run, SERVING)
    assert run.outcome.unevaluated == [
        "error rate: not configured (metrics.source: none): no automatic rollback on it",
        "p95: not configured (metrics.source: none): no automatic rollback on it",
    ]
    measured = metrics.MetricsReader(run).read("green", "v1.1.0")
    assert (measured.error_rate, measured.p95) == (None, None)
    assert measured.unjudged == {"error rate": "not configured", "p95": "not configured"}


def test_the_deploy_is_refused_in_the_preflight_before_anything_starts(monkeypatch):
    monkeypatch.setenv("GHOSTWORKS_REGISTRY_PASSWORD", "registry-secret")
    prometheus_answers(monkeypatch, {"requests_total": [], "duration": []})
    run = a_real_run()
    with pytest.raises(OperationFailed, match=r"^step .preflight. failed: the rollback triggers cannot be judged"):
        deploy(run, "v1.2.0", monitor_minutes=1, yes=True)
    ran = "\n".join(run.executor.entries)
    assert "== fetch and build" not in ran and "== backup database" not in ran and " up -d" not in ran
    assert "touch /var/lib/ghosttasks/ghostworks-active-green" not in ran and "rm -f /var/lib/ghosttasks/gh" not in ran
    assert '"failed_step": "preflight"' in ran


def test_a_dry_run_without_metrics_shows_not_configured_lines(monkeypatch):
    run = a_real_run(with_metrics(source="none"), dry_run=True)
    deploy(run, "v1.2.0", monitor_minutes=15, yes=True)
    plan = run.executor.text()
    assert "# not judged: error rate: not configured (metrics.source: none): no automatic rollback on it" in plan
    assert "# not judged: p95: not configured (metrics.source: none): no automatic rollback on it" in plan
    assert "error rate and p95: not configured (metrics.source: none)" in plan  # the monitor's line


def test_the_access_log_source_reads_the_window_on_the_lb():
    env = with_metrics(source="access_log")
    executor = ScriptedExecutor(env, unscripted="strict")
    executor.on(
        "ghostworks-access.log",
        "now 1000\ngt1 950.0 200 0.100 green\ngt1 960.0 502 0.900 green\ngt1 970.0 200 0.050 blue\n",
        host="lb1",
    )
    measured = metrics.MetricsReader(a_run(executor)).read("green", "v1.1.0")
    assert (measured.error_rate, measured.source, measured.unjudged) == (0.5, "LB access log, 2 requests", {})
    assert measured.p95 == pytest.approx(0.86)
    assert executor.commands[0].command == access_log.read_window(env.access_log_path, 60)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("now 1000\n", "no requests in the window"),
        ("missing\n", "no access log (/var/lib/ghosttasks/ghostworks-access.log missing)"),
    ],
)
def test_an_access_log_without_requests_is_not_judged(answer, why):
    executor = ScriptedExecutor(with_metrics(source="access_log"), unscripted="strict").on("access.log", answer)
    measured = metrics.MetricsReader(a_run(executor)).read("green", "v1.1.0")
    assert measured.unjudged == {"error rate": why, "p95": why} and measured.error_rate is None


def test_auto_falls_back_to_the_access_log_while_prometheus_is_down(monkeypatch):
    prometheus_answers(monkeypatch, {"": ConnectionError("refused")})
    executor = ScriptedExecutor(prod(), unscripted="strict").on("access.log", "now 1000\ngt1 990.0 200 0.1 blue\n")
    run = a_run(executor)
    reader = metrics.MetricsReader(run)
    first, second = reader.read("blue", "v1.2.0"), reader.read("blue", "v1.2.0")
    assert first.source == second.source == "LB access log, 1 requests" and first.error_rate == 0.0
    assert run.out.printed.count("Prometheus unreachable (ConnectionError: refused): reading the LB access log") == 1


def test_an_explicit_prometheus_source_that_is_down_is_not_judged(monkeypatch):
    prometheus_answers(monkeypatch, {"": ConnectionError("refused")})
    run = a_run(ScriptedExecutor(with_metrics(source="prometheus"), unscripted="strict"))
    measured = metrics.MetricsReader(run).read("blue", "v1.2.0")
    assert measured.unjudged["error rate"] == "Prometheus unreachable (ConnectionError: refused)"
    assert measured.error_rate is None


def test_the_dry_run_command_line_of_an_inventory_without_metrics(inv, monkeypatch, tmp_path):
    import yaml

    from ghosttasks.testing import SHIPPED_INVENTORY

    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    data["environments"]["prod"]["metrics"] = {"source": "none"}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("GHOST_INVENTORY", str(path))
    code, out, err = inv("deploy.prod", "--version", "v1.2.0", "--dry-run", "--yes")
    assert code == 0, err
    assert "# not judged: error rate: not configured (metrics.source: none): no automatic rollback on it" in out
    assert '"unevaluated": ["error rate: not configured (metrics.source: none)' in out  # the history entry


def test_the_history_table_shows_what_a_run_could_not_judge():
    from ghosttasks.terminal.reporting import history_rows

    judged = HistoryEntry(start="T", task="deploy.prod", version="v1.2.0", user="ana", result="ok", seconds=9.0)
    unjudged = HistoryEntry(**{**judged.given(), "unevaluated": ["error rate: no series", "p95: no series"]})
    assert [row[4] for row in history_rows([judged, unjudged])] == ["ok", "ok (2 not judged)"]
