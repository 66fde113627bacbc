"""Publish a deploy marker (ghosttasks.observability.markers) and show the last one; a publishing failure only warns."""

from __future__ import annotations

import time

from ghosttasks.decisions.probe_routes import way
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.execution.run import Run
from ghosttasks.observability import markers
from ghosttasks.observability.markers import Marker


def publish(run: Run, marker: Marker | None) -> None:
    """Push the marker to the Pushgateway (monitoring.pushgateway_url); warn, never raise, when that fails."""
    url = run.env.monitoring.pushgateway_url
    if marker is None or not url:
        return
    group = markers.group_url(url, run.env.name)
    client = run.executor.http_client(url)
    try:
        run.executor.probe(
            f"PUT {group} {way(run.env, url)} marker {marker.status} {marker.version} {marker.color}",
            lambda: markers.push(url, run.env.name, marker, client=client),
            assume=None,
        )
    except Exception as exc:  # the deploy's own result stands; dashboards just miss this marker
        run.out.warn(f"could not publish the {marker.status} marker to {url}: {type(exc).__name__}: {exc}")
        return
    if not run.dry_run:  # a plan published nothing
        run.out.ok(f"deploy marker published: {marker.describe()}")


def publish_finished(run: Run, entry: HistoryEntry) -> None:
    """The marker a finished deploy, rollback or emergency rollback means (markers.marker_for)."""
    publish(run, markers.marker_for(run.task, entry, time.time()))


def show_last(run: Run) -> None:
    """verify.monitoring: the last marker of this environment in the Pushgateway."""
    url = run.env.monitoring.pushgateway_url
    assert url is not None
    client = run.executor.http_client(url)
    groups = run.executor.probe(
        f"GET {url}/api/v1/metrics {way(run.env, url)}",
        lambda: markers.fetch_groups(url, client=client),
        assume=[],
    )
    if run.dry_run:  # a plan read no marker: "none yet" would be a claim about the Pushgateway
        return
    last = markers.last_marker(groups, run.env.name)
    if last is None:
        run.out.warn(f"Pushgateway: no deploy marker for {run.env.name} yet (nothing deployed since it started?)")
    else:
        run.out.ok(f"Pushgateway: last deploy marker {last.describe()}")
