"""The manual rollback decision (pure): where traffic goes, whether that version must be redeployed,
and which schema revision it wants."""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.colors import Color, other
from ghosttasks.errors import OperationFailed
from ghosttasks.state import DeployState


@dataclass(frozen=True)
class RollbackPlan:
    source: Color
    source_version: str
    target: Color
    version: str
    reuse: bool  # the target colour already runs that version: switch only
    wanted_revision: str | None  # the schema revision the version wants (None: unknown)

    def needs_downgrade(self, current: str | None) -> bool:
        return self.wanted_revision is not None and self.wanted_revision != current


def plan_rollback(state: DeployState, *, to: str | None, db_rev: str | None, env_name: str) -> RollbackPlan:
    """Roll back from the active colour to the other one (running `to`, default: what it holds)."""
    active = state.active
    active_version = state.colors[active].version if active else None
    if not active or not active_version:
        raise OperationFailed(f"nothing is deployed in {env_name}: nothing to roll back")
    target = other(active)
    version = to or state.colors[target].runs
    if not version:
        raise OperationFailed(
            f"{target} holds no known-good version and no --to was given: no previous version known",
            hint="name the version: inv deploy.rollback --to vX.Y.Z",
        )
    if version == active_version:
        raise OperationFailed(f"{version} is already serving on {active}")
    return RollbackPlan(
        source=active,
        source_version=active_version,
        target=target,
        version=version,
        reuse=state.colors[target].runs == version,
        wanted_revision=db_rev or state.version_heads.get(version),
    )
