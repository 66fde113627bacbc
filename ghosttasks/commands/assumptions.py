"""The neutral example a dry run assumes (it opens no connection): the state, versions and heads every
fact's assumed answer (ghosttasks.commands.facts) is built from, and the plan says so. Not any real app's.
"""

from __future__ import annotations

from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.placeholders import PLAN_TIME

OLDER_VERSION = "v1.0.0"
NEWER_VERSION = "v1.1.0"
OLDER_HEAD = "a1a1a1a1a1a1"
NEWER_HEAD = "b2b2b2b2b2b2"

#: The LB's state file: green serves the newer version, blue holds the older one.
STATE = DeployState(
    active="green",
    previous="blue",
    colors={
        "blue": ColorState(OLDER_VERSION, OLDER_HEAD, PLAN_TIME),
        "green": ColorState(NEWER_VERSION, NEWER_HEAD, PLAN_TIME),
    },
    version_heads={OLDER_VERSION: OLDER_HEAD, NEWER_VERSION: NEWER_HEAD},
    version_graphs={OLDER_VERSION: {OLDER_HEAD: []}, NEWER_VERSION: {OLDER_HEAD: [], NEWER_HEAD: [OLDER_HEAD]}},
    database_revision=NEWER_HEAD,
    updated_at=PLAN_TIME,
)

#: The revision a version newer than NEWER_VERSION adds, so that a deploy's plan shows its upgrade.
NEWEST_HEAD = "c3c3c3c3c3c3"


def describe_state(state: DeployState = STATE) -> str:
    """One line naming the assumed active colour and each colour's version."""
    parts = [f"active {state.active}"]
    parts += [f"{color} {info.version or 'empty'}" for color, info in state.colors.items()]
    return ", ".join(parts)
