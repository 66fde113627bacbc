"""What the code of each version knows about the schema: its alembic revision graph (read with alembic's own
model, ghosttasks.commands.alembic.READER), the order of two revisions (ancestry), and how a revision spec (head,
base, an id or prefix, -N/+N) names one of them (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.revision_graph import RevisionGraph
from ghosttasks.domain.validate import REVISION_ID

REVISION_ID_RE = re.compile(REVISION_ID)
RELATIVE_RE = re.compile(rf"(?P<base>{REVISION_ID}|)(?P<sign>[+-])(?P<steps>[1-9]\d{{0,3}})")
#: The line the revision reader (ghosttasks.commands.alembic.READER) prints its JSON on, after this marker.
GRAPH_MARKER = "ghosttasks-alembic-graph"


class Refused(OperationFailed):
    """The request cannot be carried out safely in this state; nothing was changed."""


@dataclass(frozen=True)
class Knowledge:
    """What each version's code knows: its revision graph (one head; knowing = an ancestor of that head)."""

    graphs: dict[str, RevisionGraph] = field(default_factory=dict)

    @classmethod
    def recorded(cls, state: DeployState) -> Knowledge:
        """What the state file records (no live reads: for the emergency path)."""
        return cls({version: RevisionGraph.of(parents) for version, parents in state.version_graphs.items()})

    @classmethod
    def of_chains(cls, chains: dict[str, tuple[str, ...] | list[str]]) -> Knowledge:
        """Linear histories, base first."""
        return cls({version: RevisionGraph.linear(chain) for version, chain in chains.items()})

    def head(self, version: str) -> str | None:
        """The newest revision the version ships (None: none, or unknown); several heads are refused."""
        graph = self.graphs.get(version)
        heads = graph.heads() if graph else ()
        if len(heads) > 1:
            raise Refused(f"{version} ships several heads {', '.join(heads)}: {MERGE_HEADS}")
        return heads[0] if heads else None

    def knows(self, version: str, revision: str | None) -> bool:
        """The version's code can locate `revision`: it is its head or below it (every version knows the base)."""
        return revision is None or revision in self.graphs.get(version, ())

    def versions_knowing(self, revision: str | None) -> list[str]:
        """The versions whose code can locate this revision."""
        return sorted(version for version in self.graphs if self.knows(version, revision))

    def all_revisions(self) -> set[str]:
        """Every revision any recorded version ships."""
        return {revision for graph in self.graphs.values() for revision in graph.parents}

    def graph_holding(self, *revisions: str | None, prefer: str | None = None) -> RevisionGraph | None:
        """A recorded graph that holds every one of `revisions` (`prefer`'s first, then the largest)."""
        ranked = sorted(self.graphs.items(), key=lambda item: (item[0] != prefer, -len(item[1]), item[0]))
        for _, graph in ranked:
            if all(revision is None or revision in graph for revision in revisions):
                return graph
        return None

    def order(self, first: str | None, second: str | None) -> int | None:
        """-1, 0 or 1 as `first` is below, is, or is after `second` (ancestry in a graph holding both); None
        when no known graph holds both, or neither descends from the other (separate branches)."""
        if first == second:
            return 0
        graph = self.graph_holding(first, second)
        if graph is None:
            return None
        if graph.includes(first, second):
            return 1
        if graph.includes(second, first):
            return -1
        return None

    def unrelated(self, first: str | None, second: str | None) -> bool:
        """Both are known to one version, on separate branches: neither descends from the other."""
        return self.graph_holding(first, second) is not None and self.order(first, second) is None

    def at_or_after(self, revision: str | None, floor: str | None) -> bool:
        """The schema at `revision` includes every migration up to `floor` (`floor` is an ancestor or itself)."""
        return self.order(revision, floor) in (0, 1)

    def left_behind(self, current: str | None, target: str | None) -> tuple[str, ...]:
        """The revisions a downgrade from `current` to `target` would leave applied as further heads beside
        `target`: alembic takes back only what descends from `target`, so an applied branch that does not
        (the other side of a merge) stays. Empty: the result is the single head `target`."""
        graph = self.graph_holding(current, target)
        if graph is None or current is None:
            return ()
        applied = graph.ancestors(current)
        remaining = applied - (graph.descendants(target) - {target} if target else applied)
        kept = RevisionGraph({r: tuple(d for d in graph.parents[r] if d in remaining) for r in remaining})
        return tuple(head for head in kept.heads() if head != target)

    def single_head_below(self, current: str | None, target: str | None) -> str | None:
        """The newest revision at or below `target` that a downgrade from `current` can reach as one head."""
        graph = self.graph_holding(current, target)
        if graph is None:
            return None
        fits = [r for r in graph.ancestors(target) if not self.left_behind(current, r)]
        return max(fits, key=lambda r: (len(graph.ancestors(r)), r), default=None)

    def single_head_above(self, current: str | None, floor: str | None) -> str | None:
        """The oldest revision at or below `current` whose schema includes `floor` that a downgrade from
        `current` can reach as one head (None: none but `current` itself, or unknown)."""
        graph = self.graph_holding(current, floor)
        if graph is None:
            return None
        fits = [
            r
            for r in graph.ancestors(current)
            if r != current and graph.includes(r, floor) and not self.left_behind(current, r)
        ]
        return min(fits, key=lambda r: (len(graph.ancestors(r)), r), default=None)


def one_head(heads: tuple[str, ...] | list[str]) -> str | None:
    """The database's one revision from its alembic_version rows (None: empty); several heads are refused."""
    if len(heads) > 1:
        count = "two" if len(heads) == 2 else str(len(heads))
        raise Refused(
            f"the database is at {count} heads {', '.join(heads)} (a downgrade below a merge leaves a branch "
            "applied): nothing plans from there; bring it to one head first",
            hint="by hand: alembic upgrade <the revision that merges them> in a container that ships it, or "
            "inv db.stamp -r <the revision the schema really is at>; inv db.current shows them",
        )
    return heads[0] if heads else None


#: What to do about a version whose history has several heads (alembic's own advice).
MERGE_HEADS = "merge the heads first: alembic merge heads"


@dataclass(frozen=True)
class History:
    """A version's revisions as its alembic reads them: the graph (one head) and each revision's message."""

    graph: RevisionGraph
    messages: dict[str, str]


def parse_revision_graph(text: str) -> History:
    """The revision reader's output (GRAPH_MARKER and JSON on one line: alembic's ScriptDirectory, run in the
    version's image) as a graph. Raises ValueError, naming what it saw, when the line is missing or not the
    reader's JSON, a revision id is not one ghosttasks can quote, a down revision is missing, or the history has
    several heads (never "no migrations" for output that was not understood). An empty list is alembic saying
    the version ships no revision."""
    lines = [line for line in text.splitlines() if line.startswith(GRAPH_MARKER + " ")]
    if not lines:
        first = text.strip().splitlines()[0][:120] if text.strip() else ""
        raise ValueError(
            f"the alembic revision reader printed no revision graph (first line: {first!r})"
            if first
            else "the alembic revision reader printed nothing"
        )
    try:
        data = json.loads(lines[-1][len(GRAPH_MARKER) + 1 :])
        rows = data["revisions"]
        parents = {row["revision"]: list(row["down_revisions"]) for row in rows}
        messages = {row["revision"]: " ".join(str(row.get("message") or "").split()) for row in rows}
        said_heads = sorted(data["heads"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the alembic revision reader's output is not its JSON ({exc})") from None
    for revision in [*parents, *(d for downs in parents.values() for d in downs)]:
        if not isinstance(revision, str) or not REVISION_ID_RE.fullmatch(revision):
            raise ValueError(f"revision id {revision!r} is not one ghosttasks can pass on (letters, digits, _ and .)")
    graph = RevisionGraph.of(parents)
    heads = list(graph.heads())
    if len(heads) > 1 or len(said_heads) > 1:
        raise ValueError(f"the history has several heads {', '.join(heads or said_heads)}: {MERGE_HEADS}")
    if heads != said_heads:
        raise ValueError(
            f"alembic names head {', '.join(said_heads) or 'none'} but the revisions end at "
            f"{', '.join(heads) or 'none'}"
        )
    return History(graph, messages)


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
    """`steps` revisions down (negative) or up from `origin` along the one path there is: a step across a merge
    point (down) or a branch point (up), or up into a merge that needs another branch, is refused."""
    graph = knowledge.graph_holding(origin, prefer=head_of)
    if graph is None:
        raise Refused(f"the database revision {origin} is not one that any recorded version ships")
    spec, at = f"{steps:+d} from {origin or 'base'}", origin
    for _ in range(abs(steps)):
        if steps < 0:
            if at is None:
                raise Refused(f"{spec} is below the base")
            downs = graph.parents[at]
            if len(downs) > 1:
                raise Refused(f"{spec} crosses {at}, which merges {', '.join(downs)}: name the revision instead")
            at = downs[0] if downs else None
        else:
            ups = graph.children(at)
            if not ups:
                raise Refused(f"{spec} is beyond the newest known head")
            if len(ups) > 1:
                branches = ", ".join(ups)
                raise Refused(f"{spec} crosses {at or 'base'}, where {branches} branch: name the revision instead")
            others = [down for down in graph.parents[ups[0]] if not graph.includes(at, down)]
            if others:
                raise Refused(
                    f"{spec} reaches {ups[0]}, which also merges {', '.join(others)}: name the revision instead"
                )
            at = ups[0]
    return at
