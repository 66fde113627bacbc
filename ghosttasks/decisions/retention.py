"""What retention keeps and removes: pure decisions over the deploy state and what a host holds.

Kept, always: the versions of both colours (what serves, what an instant rollback switches back to,
and what a failed deploy left in a colour: its containers still use those images), and the last
`keep` deployed versions. Everything else a host holds (release worktrees, image names) may go.
A rollback without --to always targets one of the two colours' versions; a rollback --to an older,
pruned version redeploys it (build once: pulled again by its recorded digest).
"""

from __future__ import annotations

from collections.abc import Iterable

from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.revisions import release_key


def colour_versions(state: DeployState) -> set[str]:
    """Every version a colour holds: the one it serves and one a failed deploy left there."""
    found = set()
    for info in state.colors.values():
        found |= {version for version in (info.version, info.failed_version) if version}
    return found


def recency(state: DeployState, present: Iterable[str]) -> list[str]:
    """Versions least recent first: those deployed before the state recorded an order (by release
    order), then the recorded deploy order."""
    recorded = set(state.deployed)
    unknown = sorted({version for version in present if version not in recorded}, key=release_key)
    return [*unknown, *state.deployed]


def keep_set(state: DeployState, keep: int, present: Iterable[str] = ()) -> set[str]:
    """The versions retention keeps: both colours' and the `keep` most recent."""
    if keep < 1:
        raise ValueError("keep at least one version")
    return colour_versions(state) | set(recency(state, present)[-keep:])


def to_remove(state: DeployState, keep: int, present: Iterable[str]) -> list[str]:
    """The versions a host holds that retention removes, least recent first."""
    present = set(present)
    kept = keep_set(state, keep, present)
    return [version for version in recency(state, present) if version in present and version not in kept]


def image_names_to_remove(
    state: DeployState,
    remove: Iterable[str],
    keep: Iterable[str],
    repositories: Iterable[str],
    present: set[str],
) -> list[str]:
    """The local image names (`repo:version` tags and `repo@digest` pins) of removed versions that the host
    has, never one a kept version also uses (two versions can share the same bytes, hence digest)."""
    kept_pins = {ref for version in keep for ref in state.version_images.get(version, {}).values()}
    names = set()
    for version in remove:
        names |= {f"{repository}:{version}" for repository in repositories}
        names |= set(state.version_images.get(version, {}).values()) - kept_pins
    return sorted(names & present)
