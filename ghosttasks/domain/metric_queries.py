"""PURE the triggers' PromQL: named presets, templates with {color} {version} {window}, their validation.

A template is PromQL as Prometheus reads it, with three placeholders that ghosttasks fills in before it asks:
`{color}` (blue|green), `{version}` (the tag the colour runs, `v1.2.0`) and `{window}` (monitoring.rate_window,
`1m`). Every other brace is PromQL's own (label matchers), so nothing needs escaping. A word in braces that is
not one of the three (`{colour}`) and unbalanced braces or parentheses are refused when hosts.yml is read.
The values are validated before they get here (colour, version, window): none needs quoting in a label value.

Presets (metrics.preset):
- `ghostworks`: the demo app's own metrics, `ghostworks_http_requests_total{color,version,status}` and
  `ghostworks_http_request_duration_seconds_bucket{color,version}`: one colour AND one version, so a colour's
  previous occupant is never judged as the new version.
- `prometheus_client`: the names prometheus_client apps and prometheus-fastapi-instrumentator export,
  `http_requests_total{status}` (the instrumentator writes `5xx` when it groups status codes, `503` when not:
  `status=~"5.."` matches both) and `http_request_duration_seconds_bucket`. Such apps know nothing of
  colours: `color` must be a target label that Prometheus' scrape config gives each colour's targets
  (`static_configs: [{targets: [...], labels: {color: blue}}]`). They carry no version either, so a rate
  window that reaches back past the switch mixes in the colour's previous occupant (keep rate_window short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDERS = ("color", "version", "window")
#: The first word of every line of the LB access-log format ghosttasks renders (templates/nginx): a line
#: without it is not ours, and a future format gets a new tag.
ACCESS_LOG_TAG = "gt1"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PAIRS = {"{": "}", "(": ")", "[": "]"}


@dataclass(frozen=True)
class QueryPair:
    """The trigger queries as templates: the 5xx share, the 95th percentile request duration, and the number of
    requests in the window (a canary reading with too few is inconclusive)."""

    error_rate: str
    p95: str
    requests: str


PRESETS: dict[str, QueryPair] = {
    "ghostworks": QueryPair(
        error_rate=(
            '(sum(rate(ghostworks_http_requests_total{color="{color}",version="{version}",status=~"5.."}[{window}]))'
            " or vector(0))"
            ' / sum(rate(ghostworks_http_requests_total{color="{color}",version="{version}"}[{window}]))'
        ),
        p95=(
            "histogram_quantile(0.95, sum by (le) "
            '(rate(ghostworks_http_request_duration_seconds_bucket{color="{color}",version="{version}"}[{window}])))'
        ),
        requests='sum(increase(ghostworks_http_requests_total{color="{color}",version="{version}"}[{window}]))',
    ),
    "prometheus_client": QueryPair(
        error_rate=(
            '(sum(rate(http_requests_total{color="{color}",status=~"5.."}[{window}])) or vector(0))'
            ' / sum(rate(http_requests_total{color="{color}"}[{window}]))'
        ),
        p95=(
            "histogram_quantile(0.95, sum by (le) "
            '(rate(http_request_duration_seconds_bucket{color="{color}"}[{window}])))'
        ),
        requests='sum(increase(http_requests_total{color="{color}"}[{window}]))',
    ),
}


def template_problem(template: str) -> str | None:
    """What is wrong with a query template (one line), or None when it can be filled in and sent."""
    if not template.strip():
        return "an empty query"
    unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in PLACEHOLDERS})
    if unknown:
        allowed = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        return f"unknown placeholder {{{unknown[0]}}} (known: {allowed})"
    return _unbalanced(_PLACEHOLDER.sub(lambda match: "x" * len(match[0]), template))  # positions as written


def _unbalanced(text: str) -> str | None:
    """The first unbalanced brace, parenthesis or bracket outside PromQL's quoted strings, else None."""
    open_: list[tuple[str, int]] = []
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'`":
            quote = char
        elif char in _PAIRS:
            open_.append((char, index))
        elif char in _PAIRS.values():
            if not open_ or _PAIRS[open_[-1][0]] != char:
                return f"unbalanced {char!r} at character {index + 1}"
            open_.pop()
    if quote:
        return f"unterminated string ({quote})"
    if open_:
        char, index = open_[-1]
        return f"unbalanced {char!r} at character {index + 1} (never closed)"
    return None


def fill(template: str, *, color: str, version: str | None, window: str) -> str:
    """The template with its placeholders filled in (str.replace: PromQL's own braces stay as they are).

    A template that uses {version} needs one: ValueError when version is None.
    """
    if version is None and "{version}" in template:
        raise ValueError("the query needs {version} and the colour's version is unknown")
    values = {"color": color, "version": version or "", "window": window}
    return _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)


def queries(preset: str, error_rate: str | None, p95: str | None, requests: str | None = None) -> QueryPair:
    """The templates in force: each configured one, else the preset's."""
    chosen = PRESETS[preset]
    return QueryPair(error_rate or chosen.error_rate, p95 or chosen.p95, requests or chosen.requests)
