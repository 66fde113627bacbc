"""The deploy state's model (state.json): each colour's version, the journal's intent, and their JSON form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ghosttasks.domain.colors import COLORS, Color, other
from ghosttasks.domain.revision_graph import RevisionGraph


@dataclass
class ColorState:
    version: str | None = None
    alembic_head: str | None = None
    deployed_at: str | None = None
    failed_version: str | None = None  # a failed deploy left this version's containers here
    images: dict[str, str] = field(default_factory=dict)  # service -> registry/name@sha256:... (build: once)

    @property
    def runs(self) -> str | None:
        """The known-good version this colour serves, or None when a failed deploy replaced it."""
        return None if self.failed_version else self.version


@dataclass(frozen=True)
class Intent:
    """What a run is about to do, written before it does it and cleared once it is recorded as done.

    `color` gets `version` (its containers are replaced when `replaces`) and is to serve; with `fails_other`
    the other colour is being abandoned (an automatic rollback). A run killed in between leaves it behind:
    the next run resolves it against the LB and the containers (ghosttasks.decisions.reconcile).
    """

    run_id: str
    task: str
    since: str
    color: Color
    version: str
    replaces: bool = True
    fails_other: bool = False

    def describe(self) -> str:
        """`deploy.prod (run 1a2b3c4d, since …): v1.2.0 into green`."""
        what = f"{self.version} into {self.color}" if self.replaces else f"traffic to {self.color} ({self.version})"
        return f"{self.task} (run {self.run_id}, since {self.since}): {what}"


@dataclass
class DeployState:
    active: Color | None = None
    previous: Color | None = None
    colors: dict[Color, ColorState] = field(default_factory=lambda: {color: ColorState() for color in COLORS})
    version_heads: dict[str, str] = field(default_factory=dict)
    #: version -> revision -> its down revisions: the alembic graph each version ships (one head; {}: none)
    version_graphs: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    database_revision: str | None = None  # as read from the database after the last command that could change it
    version_images: dict[str, dict[str, str]] = field(default_factory=dict)  # version -> service -> pinned ref
    deployed: list[str] = field(default_factory=list)  # versions that went live, least recent first
    intent: Intent | None = None  # an unfinished change (the journal); None once it is recorded as done
    updated_at: str | None = None

    @property
    def idle(self) -> Color:
        """The colour a new version goes into: the one not serving (blue on the very first deploy)."""
        return other(self.active) if self.active else "blue"

    def after_deploy(self, color: Color, version: str, head: str | None, now: str) -> None:
        """`version` (whose schema head is `head`) now serves from `color`; the old active colour stays idle.
        The change is recorded as done: the journal's intent is cleared."""
        self.intent = None
        self.after_switch(color)
        self.colors[color] = ColorState(version, head, now, images=dict(self.version_images.get(version, {})))
        if head:
            self.version_heads[version] = head
        self.deployed = [*(known for known in self.deployed if known != version), version]

    def record_images(self, version: str, images: dict[str, str]) -> None:
        """The images `version` was built into (service -> `registry/name@sha256:...`), pushed once."""
        if images:
            self.version_images[version] = dict(images)

    def learn_graph(self, version: str, graph: RevisionGraph) -> None:
        """Remember the revisions `version` ships, as read from its code (an empty graph: it ships none)."""
        self.version_graphs[version] = graph.as_json()
        heads = graph.heads()
        if len(heads) == 1:
            self.version_heads[version] = heads[0]
        else:
            self.version_heads.pop(version, None)

    def after_switch(self, color: Color) -> None:
        """Traffic now goes to `color` (no change when it already did)."""
        if self.active != color:
            self.previous, self.active = self.active, color

    def mark_failed(self, color: Color, version: str) -> None:
        """A failed deploy left `version` in `color`: it is no longer a switch or rollback target."""
        self.colors[color].failed_version = version

    def to_json(self) -> str:
        """state.json as one line with sorted keys."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeployState:
        """Parse state.json; raises ValueError (or TypeError) when it is not a state this tool wrote."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        colors_data = data.get("colors", {})
        if not isinstance(colors_data, dict):
            raise ValueError("colors is not an object")
        colors = {color: ColorState(**colors_data.get(color, {})) for color in COLORS}
        active, previous = data.get("active"), data.get("previous")
        for name, value in (("active", active), ("previous", previous)):
            if value is not None and value not in COLORS:
                raise ValueError(f"{name} is {value!r}, not blue or green")
        return cls(
            active=active,
            previous=previous,
            colors=colors,
            version_heads=dict(data.get("version_heads", {})),
            version_graphs=_graphs(data.get("version_graphs", {}), data.get("version_chains", {})),
            database_revision=data.get("database_revision"),
            version_images=_version_images(data.get("version_images", {})),
            deployed=_versions(data.get("deployed", [])),
            intent=_intent(data.get("intent")),
            updated_at=data.get("updated_at"),
        )


def _graphs(data: Any, chains: Any) -> dict[str, dict[str, list[str]]]:
    """version_graphs as written (version -> revision -> down revisions), plus the linear `version_chains`
    (version -> revisions, base first) that state files of earlier ghosttasks versions hold, each read as a
    graph; anything else is corrupt."""
    if not isinstance(chains, dict):
        raise ValueError("version_chains is not an object")
    graphs: dict[str, dict[str, list[str]]] = {}
    for version, chain in chains.items():
        if not isinstance(chain, list) or not all(isinstance(revision, str) for revision in chain):
            raise ValueError(f"version_chains.{version} is not a list of revisions")
        graphs[version] = RevisionGraph.linear(chain).as_json()
    if not isinstance(data, dict):
        raise ValueError("version_graphs is not an object")
    for version, parents in data.items():
        if not isinstance(parents, dict) or not all(
            isinstance(downs, list) and all(isinstance(down, str) for down in downs) for downs in parents.values()
        ):
            raise ValueError(f"version_graphs.{version} is not an object of revision -> down revisions")
        try:
            graphs[version] = RevisionGraph.of(parents).as_json()
        except ValueError as exc:
            raise ValueError(f"version_graphs.{version}: {exc}") from None
    return graphs


def _version_images(data: Any) -> dict[str, dict[str, str]]:
    """version_images as written: version -> service -> pinned reference; anything else is corrupt."""
    if not isinstance(data, dict) or not all(
        isinstance(images, dict) and all(isinstance(ref, str) for ref in images.values()) for images in data.values()
    ):
        raise ValueError("version_images is not an object of version -> service -> image")
    return {version: dict(images) for version, images in data.items()}


def _intent(data: Any) -> Intent | None:
    """The journal's intent as written; anything else is corrupt."""
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("color") not in COLORS:
        raise ValueError("intent is not an object naming blue or green")
    return Intent(**data)


def _versions(data: Any) -> list[str]:
    if not isinstance(data, list) or not all(isinstance(version, str) for version in data):
        raise ValueError("deployed is not a list of versions")
    return list(data)
