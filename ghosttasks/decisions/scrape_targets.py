"""PURE: which of Prometheus's active targets belong to this environment's serving colour.

One Prometheus often scrapes several apps (the lab's two share hosts and Prometheus). This
environment's targets are those of the serving colour (the `color` label) at its app hosts' per-colour
ports (the `instance` label). When no target is named that way (the app exports metrics on another
port, or relabels `instance`), every target of the colour counts, as before. With nothing deployed yet
(no serving colour) every target of every colour counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def environment_instances(
    addresses: Iterable[str], color_ports: Mapping[str, Mapping[str, int]], active: str | None
) -> frozenset[str]:
    """The `address:port` of every per-colour service of the serving colour (every colour when none serves)."""
    return frozenset(
        f"{address}:{port}"
        for address in addresses
        for color, ports in color_ports.items()
        if active is None or color == active
        for port in ports.values()
    )


def targets_of_environment(
    active_targets: Sequence[Mapping], active: str | None, instances: frozenset[str]
) -> list[Mapping]:
    """The targets of the serving colour at this environment's instances; the whole colour when none matches."""
    coloured = [t for t in active_targets if active is None or t["labels"].get("color") == active]
    return [t for t in coloured if t["labels"].get("instance") in instances] or coloured
