"""The triggers' PromQL: presets by exact output, template validation, the `metrics:` settings' one-line errors."""

import pytest
import yaml

from ghosttasks.config.inventory import load_inventory
from ghosttasks.config.settings import MetricsSettings
from ghosttasks.domain.errors import ConfigError
from ghosttasks.domain.metric_queries import PRESETS, fill, queries, template_problem
from ghosttasks.testing import SHIPPED_INVENTORY


@pytest.mark.parametrize("color", ["blue", "green"])
def test_the_ghostworks_preset_selects_the_colour_and_the_version(color):
    pair = PRESETS["ghostworks"]
    selector = f'color="{color}",version="v1.2.0-slow"'
    assert fill(pair.error_rate, color=color, version="v1.2.0-slow", window="1m") == (
        f'(sum(rate(ghostworks_http_requests_total{{{selector},status=~"5.."}}[1m])) or vector(0)) '
        f"/ sum(rate(ghostworks_http_requests_total{{{selector}}}[1m]))"
    )
    assert fill(pair.p95, color=color, version="v1.2.0-slow", window="30s") == (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(ghostworks_http_request_duration_seconds_bucket{{{selector}}}[30s])))"
    )


def test_the_prometheus_client_preset_uses_the_instrumentator_names_and_the_colour_target_label():
    pair = PRESETS["prometheus_client"]
    assert fill(pair.error_rate, color="green", version="v3.1.0", window="20s") == (
        '(sum(rate(http_requests_total{color="green",status=~"5.."}[20s])) or vector(0)) '
        '/ sum(rate(http_requests_total{color="green"}[20s]))'
    )
    assert fill(pair.p95, color="blue", version=None, window="1m") == (
        'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{color="blue"}[1m])))'
    )


def test_a_template_that_needs_the_version_refuses_to_guess_it():
    with pytest.raises(ValueError, match=r"needs \{version\}"):
        fill(PRESETS["ghostworks"].p95, color="blue", version=None, window="1m")


def test_configured_templates_win_over_the_preset():
    own = 'max(app_errors_ratio{deployment_color="{color}"})'
    pair = queries("ghostworks", own, None)
    assert pair.error_rate == own and pair.p95 == PRESETS["ghostworks"].p95
    assert fill(own, color="green", version="v1.0.0", window="1m") == 'max(app_errors_ratio{deployment_color="green"})'


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ('rate(x{color="{color}"}[{window}])', None),
        ('sum(rate(x{path=~"/a{2,3}",color="{color}"}[{window}]))', None),  # a regex's braces are PromQL's own
        ('x{le="{"}', None),  # inside a string: not a brace
        ('rate(x{color="{colour}"}[{window}])', "unknown placeholder {colour} (known: {color} {version} {window})"),
        ('rate(x{color="{color}"}[{window}]', "unbalanced '(' at character 5 (never closed)"),
        ('rate(x{color="{color}"[{window}])', "unbalanced ')' at character 33"),
        ("x}", "unbalanced '}' at character 2"),
        ('x{a="b}', 'unterminated string (")'),
        ("  ", "an empty query"),
    ],
)
def test_template_problems(template, problem):
    assert template_problem(template) == problem


def test_the_defaults_are_todays_ghostworks_queries_from_prometheus_or_the_lb_log():
    metrics = MetricsSettings()
    assert (metrics.source, metrics.preset, metrics.without_series) == ("auto", "ghostworks", "refuse")
    assert metrics.templates == PRESETS["ghostworks"]


def _with_metrics(tmp_path, metrics):
    data = yaml.safe_load(SHIPPED_INVENTORY.read_text())
    metrics = dict(metrics)
    if metrics.pop("__no_prometheus__", False):
        data["environments"]["prod"]["monitoring"].pop("prometheus_url")
    data["environments"]["prod"]["metrics"] = metrics
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (
            {"error_rate_query": 'sum(rate(x{color="{colour}"}[{window}]))'},
            "hosts.yml: environments.prod.metrics.error_rate_query: unknown placeholder {colour} "
            "(known: {color} {version} {window})",
        ),
        (
            {"p95_query": "histogram_quantile(0.95, sum by (le) (rate(x[{window}]))"},
            "hosts.yml: environments.prod.metrics.p95_query: unbalanced '(' at character 19 (never closed)",
        ),
        (
            {"preset": "statsd"},
            "hosts.yml: environments.prod.metrics.preset: Input should be 'ghostworks' or 'prometheus_client'",
        ),
        (
            {"without_series": "ignore"},
            "hosts.yml: environments.prod.metrics.without_series: Input should be 'refuse' or 'continue'",
        ),
        (
            {"access_log_path": "logs/a.log"},
            "hosts.yml: environments.prod.metrics.access_log_path: an absolute path "
            "of letters, digits and . _ - + / only (it goes into the nginx config)",
        ),
        ({"sources": "none"}, "hosts.yml: environments.prod.metrics.sources: unknown key"),
        (
            {"source": "prometheus", "__no_prometheus__": True},
            "hosts.yml: environments.prod: metrics.source: prometheus needs monitoring.prometheus_url "
            "(or source auto/access_log)",
        ),
    ],
)
def test_a_bad_metrics_setting_is_one_line_naming_the_key(tmp_path, metrics, message):
    path = _with_metrics(tmp_path, metrics)
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert str(caught.value).replace(str(path), "hosts.yml") == message
    assert "\n" not in str(caught.value)


def test_the_access_log_lives_in_the_state_dir_unless_configured(tmp_path):
    env = load_inventory(_with_metrics(tmp_path, {"source": "access_log"})).env("prod")
    assert env.access_log_path == "/var/lib/ghosttasks/ghostworks-access.log"
    env = load_inventory(_with_metrics(tmp_path, {"access_log_path": "/var/log/nginx/gw.log"})).env("prod")
    assert env.access_log_path == "/var/log/nginx/gw.log"
