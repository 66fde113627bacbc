"""A version's alembic revisions as alembic models them (pure): each revision and its down revisions (a merge
point has several, a branch point several children). Direction between two revisions is ancestry, never the
ids' order: the schema at X includes Y when Y is an ancestor of X (or X itself)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RevisionGraph:
    """revision -> its down revisions (empty: it sits on the base). Closed: every down revision is in it."""

    parents: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, parents: Mapping[str, Iterable[str]]) -> RevisionGraph:
        """A graph from revision -> down revisions; raises ValueError when a down revision is missing or the
        revisions form a cycle (not a history alembic could have written)."""
        graph = cls({revision: tuple(downs) for revision, downs in parents.items()})
        for revision, downs in graph.parents.items():
            missing = [down for down in downs if down not in graph.parents]
            if missing:
                raise ValueError(f"revision {revision} names down revision {', '.join(missing)}, which is not in it")
        if len(graph.ordered()) != len(graph.parents):
            raise ValueError("the revisions form a cycle")
        return graph

    @classmethod
    def linear(cls, chain: Iterable[str]) -> RevisionGraph:
        """A chain, base first (what state files of earlier ghosttasks versions recorded)."""
        parents: dict[str, tuple[str, ...]] = {}
        previous: str | None = None
        for revision in chain:
            parents[revision] = (previous,) if previous else ()
            previous = revision
        return cls(parents)

    def __contains__(self, revision: object) -> bool:
        return revision in self.parents

    def __len__(self) -> int:
        return len(self.parents)

    def heads(self) -> tuple[str, ...]:
        """The revisions no other revision comes after, sorted."""
        below = {down for downs in self.parents.values() for down in downs}
        return tuple(sorted(revision for revision in self.parents if revision not in below))

    def children(self, revision: str | None) -> tuple[str, ...]:
        """The revisions directly after `revision` (None: the base's), sorted."""
        if revision is None:
            return tuple(sorted(r for r, downs in self.parents.items() if not downs))
        return tuple(sorted(r for r, downs in self.parents.items() if revision in downs))

    def ancestors(self, revision: str | None) -> frozenset[str]:
        """`revision` and every revision below it: what the schema at `revision` includes (None: nothing)."""
        if revision is None:
            return frozenset()
        seen: set[str] = set()
        todo = [revision]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.parents.get(current, ()))
        return frozenset(seen)

    def descendants(self, revision: str | None) -> frozenset[str]:
        """`revision` and every revision after it (None: all of them)."""
        if revision is None:
            return frozenset(self.parents)
        return frozenset(r for r in self.parents if revision in self.ancestors(r))

    def includes(self, revision: str | None, floor: str | None) -> bool:
        """The schema at `revision` includes `floor` (every revision includes the base)."""
        return floor is None or floor in self.ancestors(revision)

    def ordered(self) -> tuple[str, ...]:
        """Every revision, each after its down revisions (base first; ties by id)."""
        done: list[str] = []
        placed: set[str] = set()
        waiting = sorted(self.parents)
        while waiting:
            ready = [r for r in waiting if all(down in placed for down in self.parents[r])]
            if not ready:
                break  # a cycle: `of` refuses it
            done.extend(ready)
            placed.update(ready)
            waiting = [r for r in waiting if r not in placed]
        return tuple(done)

    def as_json(self) -> dict[str, list[str]]:
        """revision -> down revisions, as state.json stores it."""
        return {revision: list(downs) for revision, downs in self.parents.items()}
