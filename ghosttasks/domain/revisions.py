"""What the code of each version knows about the schema: its alembic revision chain, their order, and
how a revision spec (head, base, an id or prefix, -N/+N) names one of them (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed

#: A revision id as alembic allows it (any text without `@`, `-` or `+`), limited to what is safe to show and quote:
#: hex (`a1b2c3d4e5f6`), sequential (`0003_orders_status`) and dated (`20240115_1200`) ids alike.
REVISION_ID = r"[A-Za-z0-9][A-Za-z0-9_.]{0,63}"
RELATIVE_RE = re.compile(rf"(?P<base>{REVISION_ID}|)(?P<sign>[+-])(?P<steps>[1-9]\d{{0,3}})")
#: One line of `alembic history`: `DOWN -> UP (head), message`, DOWN `<base>` or one or more ids (a merge point).
HISTORY_EDGE_RE = re.compile(
    rf"^\s*(?P<down><base>|{REVISION_ID}(?:\s*,\s*{REVISION_ID})*)\s*->\s*(?P<up>{REVISION_ID})(?=[\s,(]|$)"
)
HISTORY_MESSAGE_RE = re.compile(
    rf"^\s*(?:<base>|{REVISION_ID}(?:\s*,\s*{REVISION_ID})*)\s*->\s*(?P<up>{REVISION_ID})(?:\s*\([^)]*\))*,\s*"
    r"(?P<message>.*)$"
)


class Refused(OperationFailed):
    """The request cannot be carried out safely in this state; nothing was changed."""


@dataclass(frozen=True)
class Knowledge:
    """What each version's code knows: its revision chain, base first (its head is the last one)."""

    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def recorded(cls, state: DeployState) -> Knowledge:
        """What the state file records (no live reads: for the emergency path)."""
        return cls({version: tuple(chain) for version, chain in state.version_chains.items()})

    def head(self, version: str) -> str | None:
        """The newest revision the version ships (None: unknown)."""
        chain = self.chains.get(version)
        return chain[-1] if chain else None

    def knows(self, version: str, revision: str | None) -> bool:
        """The version's code can locate `revision` (every version knows the empty database)."""
        return revision is None or revision in self.chains.get(version, ())

    def versions_knowing(self, revision: str | None) -> list[str]:
        """The versions whose code can locate this revision."""
        return sorted(version for version in self.chains if self.knows(version, revision))

    def all_revisions(self) -> set[str]:
        """Every revision any recorded version ships."""
        return {revision for chain in self.chains.values() for revision in chain}

    def order(self, first: str | None, second: str | None) -> int | None:
        """-1, 0 or 1 as `first` comes before, is, or comes after `second` in a chain holding both; None
        when no known chain holds both (unrelated, or unknown)."""
        if first == second:
            return 0
        for chain in self.chains.values():
            ranked = (None, *chain)
            if first in ranked and second in ranked:
                a, b = ranked.index(first), ranked.index(second)
                return (a > b) - (a < b)
        return None

    def at_or_after(self, revision: str | None, floor: str | None) -> bool:
        """The schema at `revision` includes every migration up to `floor`."""
        return self.order(revision, floor) in (0, 1)


def parse_alembic_history(text: str) -> tuple[str, ...]:
    """The linear revision chain (base first) from `alembic history` output, whatever the revision ids.

    Raises ValueError when the history branches, merges, has no base, or is output with lines in it but no
    revision (never "no migrations" for a history that was not understood): the planner handles one line.
    """
    parent: dict[str, str | None] = {}
    for line in text.splitlines():
        match = HISTORY_EDGE_RE.match(line)
        if match:
            down, up = match.group("down"), match.group("up")
            if "," in down:
                raise ValueError(
                    f"revision {up} merges {down.replace(' ', '')}: a history with merge points is not supported yet"
                )
            parent[up] = None if down == "<base>" else down
    if not parent:
        if text.strip():
            first = text.strip().splitlines()[0][:120]
            raise ValueError(f"`alembic history` printed no revision that could be read (first line: {first!r})")
        return ()
    children: dict[str | None, list[str]] = {}
    for revision, down in parent.items():
        children.setdefault(down, []).append(revision)
    if any(len(ups) > 1 for ups in children.values()):
        raise ValueError("the revision history branches (more than one head): merge the heads first")
    chain: list[str] = []
    current = None
    while current in children:
        current = children[current][0]
        chain.append(current)
    if len(chain) != len(parent):
        raise ValueError("the revision history does not reach back to the base")
    return tuple(chain)


def parse_messages(text: str) -> dict[str, str]:
    """Each revision's message from `alembic history` output (`A -> B (head), message`)."""
    messages = {}
    for line in text.splitlines():
        match = HISTORY_MESSAGE_RE.match(line)
        if match:
            messages[match.group("up")] = match.group("message").strip()
    return messages


def release_key(version: str) -> tuple:
    """Sort key for vMAJOR.MINOR.PATCH[-pre]: a pre-release sorts before its release."""
    from packaging.version import Version

    base, _, pre = version.lstrip("v").partition("-")
    return (Version(base), 0 if pre else 1, pre)


def resolve_revision(spec: str, current: str | None, knowledge: Knowledge, *, head_of: str | None) -> str | None:
    """A concrete revision (None = base) for `head`, `base`, an id or its prefix, or -N/+N/REV±N.

    `head` means the head of the version `head_of` (the serving one). Raises Refused when the spec
    names nothing a known version ships, or is ambiguous.
    """
    if spec in ("head", "heads"):
        head = knowledge.head(head_of) if head_of else None
        if head is None:
            raise Refused("no version with a known schema head is serving: name the revision instead of head")
        return head
    if spec == "base":
        return None
    relative = RELATIVE_RE.fullmatch(spec)
    if relative:
        origin = _by_prefix(relative.group("base"), knowledge) if relative.group("base") else current
        steps = int(relative.group("steps")) * (1 if relative.group("sign") == "+" else -1)
        return _step(origin, steps, knowledge, head_of)
    return _by_prefix(spec, knowledge)


def _by_prefix(prefix: str, knowledge: Knowledge) -> str:
    matches = sorted(revision for revision in knowledge.all_revisions() if revision.startswith(prefix))
    if not matches:
        raise Refused(
            f"revision {prefix} is not one that any recorded version ships",
            hint="see the revisions with inv db.history",
        )
    if len(matches) > 1:
        raise Refused(f"revision {prefix} is ambiguous: {', '.join(matches)}")
    return matches[0]


def _step(origin: str | None, steps: int, knowledge: Knowledge, head_of: str | None) -> str | None:
    chains = sorted(
        (chain for chain in knowledge.chains.values() if origin is None or origin in chain),
        key=lambda chain: (head_of is None or knowledge.chains.get(head_of) != chain, -len(chain)),
    )
    if not chains:
        raise Refused(f"the database revision {origin} is not one that any recorded version ships")
    ranked = (None, *chains[0])
    index = ranked.index(origin) + steps
    if not 0 <= index < len(ranked):
        where = "below the base" if index < 0 else "beyond the newest known head"
        raise Refused(f"{steps:+d} from {origin or 'base'} is {where}")
    return ranked[index]
