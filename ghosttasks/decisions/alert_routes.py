"""PURE: which Alertmanager receivers an alert reaches, from the route tree of Alertmanager's own configuration.

Alertmanager's routing, as its documentation states it: the root route matches every alert; a route's
children are tried in order, an alert descends into the first that matches and stops there unless that child
has `continue: true`; a route none of whose children match is where the alert ends. A child inherits its
parent's receiver, group_by and timings when it sets none. Matchers: `matchers` (`name="value"`, `!=`, `=~`,
`!~`), and the older `match` (equality) and `match_re` (regular expressions, anchored at both ends).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Alertmanager's defaults for a root route that leaves them unset.
DEFAULT_TIMINGS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(.*?))\s*$')


@dataclass(frozen=True)
class Destination:
    """One route an alert ends on: its receiver, grouping and wait before the first notification."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str

    def describe(self) -> str:
        grouping = ", ".join(self.group_by) or "nothing"
        return f"{self.receiver} (group_wait {self.group_wait}, group_interval {self.group_interval}, by {grouping})"


def parse_matcher(text: str) -> tuple[str, str, str]:
    """(label, operator, value) of one `matchers` entry; ValueError for anything else."""
    found = MATCHER.match(text)
    if not found:
        raise ValueError(f"not an Alertmanager matcher: {text!r}")
    name, operator, quoted, plain = found.groups()
    value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (plain or "")
    return name, operator, value


def _holds(operator: str, actual: str, value: str) -> bool:
    if operator == "=":
        return actual == value
    if operator == "!=":
        return actual != value
    matched = re.fullmatch(value, actual) is not None
    return matched if operator == "=~" else not matched


def matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    """Every matcher of the route holds for the labels (a label the alert lacks counts as empty)."""
    checks = [parse_matcher(text) for text in route.get("matchers") or []]
    checks += [(name, "=", str(value)) for name, value in (route.get("match") or {}).items()]
    checks += [(name, "=~", str(value)) for name, value in (route.get("match_re") or {}).items()]
    return all(_holds(operator, labels.get(name, ""), value) for name, operator, value in checks)


def _inherit(parent: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    keys = ("receiver", "group_by", *DEFAULT_TIMINGS)
    return {key: route[key] if route.get(key) is not None else parent.get(key) for key in keys}


def destinations(root: dict[str, Any], labels: dict[str, str]) -> list[Destination]:
    """Every route the alert with these labels ends on, in Alertmanager's order."""
    settings = _inherit(DEFAULT_TIMINGS, root)
    return [
        Destination(
            receiver=str(found["receiver"]),
            group_by=tuple(str(label) for label in found.get("group_by") or ()),
            group_wait=str(found["group_wait"]),
            group_interval=str(found["group_interval"]),
        )
        for found in _walk(root, settings, labels)
    ]


def _walk(route: dict[str, Any], settings: dict[str, Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    ends: list[dict[str, Any]] = []
    for child in route.get("routes") or []:
        if not matches(child, labels):
            continue
        ends += _walk(child, _inherit(settings, child), labels)
        if not child.get("continue"):
            break
    return ends or [settings]


def webhook_urls(config: dict[str, Any], receiver: str) -> list[str]:
    """The webhook URLs of a receiver (other integrations are not probed: they have no URL of their own here)."""
    for entry in config.get("receivers") or []:
        if entry.get("name") == receiver:
            return [str(hook["url"]) for hook in entry.get("webhook_configs") or [] if hook.get("url")]
    return []


def integrations(config: dict[str, Any], receiver: str) -> int:
    """How many notifications one alert group sends through this receiver (one per configured integration)."""
    for entry in config.get("receivers") or []:
        if entry.get("name") == receiver:
            return sum(len(value) for key, value in entry.items() if key.endswith("_configs") and value)
    return 0
