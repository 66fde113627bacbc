"""PURE reality before records: state.json checked against what really serves and runs, and repaired.

The LB's flag says which colour serves; the app hosts' containers say which version each colour runs
(the release directory compose ran it from). state.json is a cache of those facts and a journal of the
change in progress (DeployState.intent). `reconcile` resolves an intent left by a run that died, then
makes the record agree with reality, and says every repair with both values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ghosttasks.domain.colors import COLORS, Color, other
from ghosttasks.domain.deploy_state import ColorState, DeployState, Intent

UNKNOWN_VERSION = "?"  # a container of a colour that runs from no release directory of this tool's


@dataclass(frozen=True)
class Reality:
    """What was read: the colour the LB selects (None: no LB, or not read), and per colour and app host the
    versions its running containers run (None: the app hosts were not read, as in an emergency rollback)."""

    lb_color: Color | None
    containers: dict[Color, dict[str, frozenset[str]]] | None = None

    def runs(self, color: Color) -> frozenset[str]:
        """Every version `color`'s containers run on any app host."""
        hosts = (self.containers or {}).get(color, {})
        return frozenset(version for versions in hosts.values() for version in versions)

    def runs_everywhere(self, color: Color, version: str) -> bool:
        """`color` runs exactly `version` on every app host that was read."""
        hosts = (self.containers or {}).get(color, {})
        return bool(hosts) and all(versions == {version} for versions in hosts.values())

    def describe(self, color: Color) -> str:
        """`v1.1.0 on app1, app2` or `v1.1.0 on app1, nothing on app2`."""
        hosts = (self.containers or {}).get(color, {})
        by_versions: dict[str, list[str]] = {}
        for host, versions in hosts.items():
            by_versions.setdefault(" + ".join(sorted(versions)) or "nothing", []).append(host)
        return ", ".join(f"{versions} on {', '.join(names)}" for versions, names in by_versions.items()) or "nothing"


@dataclass(frozen=True)
class Reconciliation:
    """The repaired state, what an unfinished intent became, and every repair said as one line."""

    state: DeployState
    resolution: str | None = None
    repairs: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.resolution is not None or bool(self.repairs)

    def lines(self) -> list[str]:
        return [*([self.resolution] if self.resolution else []), *self.repairs]


def reconcile(state: DeployState, reality: Reality, *, current_run: str | None = None) -> Reconciliation:
    """The state that agrees with `reality`; `state` itself is left as it was.

    An intent of `current_run` is this run's own change that failed or was interrupted; any other was left
    by a run that died (it holds no lock any more: reconciling runs under the lock).
    """
    repaired = copy.deepcopy(state)
    resolution = _resolve_intent(repaired, reality, current_run) if repaired.intent else None
    repaired.intent = None
    repairs = _serving(repaired, reality)
    if reality.containers is not None:
        repairs += [line for color in COLORS if (line := _containers(repaired, reality, color))]
    return Reconciliation(repaired, resolution, repairs)


def _resolve_intent(state: DeployState, reality: Reality, current_run: str | None) -> str:
    """Complete the record of a change that reached the LB; else roll the record back to what still serves."""
    intent = state.intent
    assert intent is not None
    whose = "this run's" if intent.run_id == current_run else "the unfinished"
    left = f"{whose} {intent.describe()}"
    if reality.lb_color == intent.color:
        _complete(state, intent)
        unverified = "; that run never verified it: check it with inv traffic.verify" if intent.replaces else ""
        return f"{left}: completed from the LB, which sends traffic to {intent.color} ({intent.version}){unverified}"
    served = reality.lb_color or state.active or "no colour"
    if intent.replaces and not reality.runs_everywhere(intent.color, state.colors[intent.color].version or ""):
        state.mark_failed(intent.color, intent.version)
        return (
            f"{left}: rolled back, the LB never sent traffic to {intent.color} ({served} serves); {intent.color} "
            f"runs {reality.describe(intent.color) if reality.containers is not None else 'what that run started'} "
            "and is marked failed: no switch or rollback goes to it until a good version is deployed into it"
        )
    return f"{left}: rolled back, the LB never sent traffic to {intent.color} ({served} serves); nothing had changed"


def _complete(state: DeployState, intent: Intent) -> None:
    if intent.fails_other:
        abandoned = state.colors[other(intent.color)]
        if abandoned.runs:
            abandoned.failed_version = abandoned.version
    if intent.replaces:
        state.colors[intent.color] = ColorState(
            intent.version,
            state.version_heads.get(intent.version),
            intent.since,
            images=dict(state.version_images.get(intent.version, {})),
        )
        state.deployed = [*(known for known in state.deployed if known != intent.version), intent.version]
    state.after_switch(intent.color)


def _serving(state: DeployState, reality: Reality) -> list[str]:
    """The active colour is the one the LB selects (once anything was deployed or runs there)."""
    lb = reality.lb_color
    if lb is None or lb == state.active:
        return []
    if state.active is None and state.colors[lb].version is None and not reality.runs(lb):
        return []  # nothing deployed yet: the LB's default colour serves nothing
    recorded = state.active or "no colour"
    state.after_switch(lb)
    return [f"serving colour: state.json said {recorded}, the LB sends traffic to {lb}"]


def _containers(state: DeployState, reality: Reality, color: Color) -> str | None:
    """A colour whose containers do not run the version on record: the record says what runs. A colour that is
    no target already (empty, or failed) stays as it is while what runs there is what the record names."""
    record = state.colors[color]
    running = reality.runs(color)
    if record.runs is not None and reality.runs_everywhere(color, record.runs):
        return None
    if record.runs is None and (not running or record.failed_version in running):
        return None
    recorded = record.runs or record.failed_version
    held = "runs" if record.runs else ("holds failed" if record.failed_version else "holds")
    was = f"state.json said {color} {held} {recorded or 'nothing'}"
    found = reality.describe(color)
    if color == state.active and len(running) == 1 and UNKNOWN_VERSION not in running:
        (version,) = running
        if reality.runs_everywhere(color, version):
            state.colors[color] = ColorState(
                version, state.version_heads.get(version), record.deployed_at, images=record.images
            )
            return f"{color} (serving): {was}, its containers run {found}"
    # the version that is not the good one on record names the failure (the last, when a host runs several)
    differing = sorted(running - {record.version}) or sorted(running)
    record.failed_version = differing[-1] if differing else recorded
    target = "it serves, check it now: inv traffic.status" if color == state.active else "no longer a switch target"
    return f"{color}: {was}, its containers run {found}: marked failed, {target}"
