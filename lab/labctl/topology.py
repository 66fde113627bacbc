"""Which topology a lab root holds: recorded in <root>/topology when up() starts, read by down() and status()."""

from __future__ import annotations

from lab.labctl.errors import LabError
from lab.labctl.files import write_file
from lab.labctl.hosts import FLAT, TOPOLOGIES, Topology
from lab.labctl.paths import Layout


def select(name: str) -> Topology:
    """The topology called `name` ('flat' or 'bastion'); anything else is a LabError naming the choices."""
    try:
        return TOPOLOGIES[name]
    except KeyError:
        raise LabError(f"topology: {name!r} is not one of {', '.join(TOPOLOGIES)}") from None


def recorded(lay: Layout) -> Topology | None:
    """The topology of the lab at this root (flat for a root from before topologies), None when there is none."""
    if not lay.root.exists():
        return None
    try:
        return select(lay.topology_file.read_text().strip())
    except FileNotFoundError:
        return FLAT


def record(lay: Layout, topo: Topology) -> None:
    """Claim the lab root for `topo`; a root that holds the other topology is refused (lab.down first)."""
    current = recorded(lay)
    if current is not None and current is not topo and _holds_a_lab(lay):
        raise LabError(
            f"topology: the {current.name} lab is up at {lay.root}; take it down first (inv lab.down), "
            f"then bring up the {topo.name} one"
        )
    lay.root.mkdir(parents=True, exist_ok=True)
    write_file(lay.topology_file, f"{topo.name}\n")


def _holds_a_lab(lay: Layout) -> bool:
    return lay.run_dir.is_dir() and any(lay.run_dir.glob("*.pid"))
