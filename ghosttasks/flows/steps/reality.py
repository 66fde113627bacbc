"""Reality before records: what serves (the LB's flag) and what runs (each colour's containers on every app
host), read before a changing command decides anything; state.json repaired from it (ghosttasks.decisions.reconcile),
said with both values and recorded in the run's history line."""

from __future__ import annotations

from ghosttasks.commands import compose, nginx
from ghosttasks.commands.facts import Fact
from ghosttasks.config.inventory import Host
from ghosttasks.decisions.reconcile import UNKNOWN_VERSION, Reality, Reconciliation, reconcile
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.execution.run import Run
from ghosttasks.records.state_store import Store


def read_lb_color(run: Run) -> Color | None:
    """The colour the LB's selector sends traffic to (None without an LB)."""
    env = run.env
    if env.lb is None:
        return None
    return run.executor.read(env.lb_host, nginx.lb_flag(env.flag_path))  # type: ignore[return-value]


def containers_fact(run: Run, host: Host) -> Fact[dict[Color, frozenset[str]]]:
    """One app host's read for read_containers: per colour, the versions its containers run."""
    env = run.env
    return compose.colours_running(env.app.project, env.releases_dir(host), UNKNOWN_VERSION)  # type: ignore[return-value]


def read_containers(run: Run) -> dict[Color, dict[str, frozenset[str]]]:
    """Per colour and app host, the versions its running containers were started from (release dirs)."""
    return containers_from(run, run.executor.read_parallel(run.env.app_hosts, lambda host: containers_fact(run, host)))


def containers_from(run: Run, answers: list[dict[Color, frozenset[str]]]) -> dict[Color, dict[str, frozenset[str]]]:
    """read_containers' answer from each app host's containers_fact (in the order of the app hosts)."""
    env = run.env
    found: dict[Color, dict[str, frozenset[str]]] = {color: {} for color in COLORS}
    for host, running in zip(env.app_hosts, answers, strict=True):
        for color in COLORS:
            found[color][host.name] = running[color]
    return found


def read_reality(run: Run, *, containers: bool = True) -> Reality:
    """The LB's colour and (unless only the LB is needed) every app host's containers."""
    return Reality(read_lb_color(run), read_containers(run) if containers else None)


def check(run: Run, store: Store, *, containers: bool = True) -> tuple[DeployState, Reconciliation]:
    """The recorded state and what it becomes against reality (nothing is written). Without colours (dev,
    staging) there is nothing to check."""
    state = store.load()
    if run.env.app.strategy != "blue-green":
        return state, Reconciliation(state)
    return state, reconciliation(run, state, read_reality(run, containers=containers))


def reconciled_state(run: Run, store: Store, entry: HistoryEntry, *, containers: bool = True) -> DeployState:
    """The state after checking it against reality: repaired (saved, said, recorded in `entry`) when it was
    wrong or an unfinished change was left in it. Every changing command decides from this, never from the
    file alone."""
    _, result = check(run, store, containers=containers)
    return repaired(run, store, entry, result)


def reconciled_from(run: Run, store: Store, entry: HistoryEntry, state: DeployState, reality: Reality) -> DeployState:
    """reconciled_state from reads the caller made already (state.json, the LB's flag, the containers)."""
    return repaired(run, store, entry, reconciliation(run, state, reality))


def reconciliation(run: Run, state: DeployState, reality: Reality) -> Reconciliation:
    """What `state` becomes against `reality` (nothing is written); without colours there is nothing to check."""
    if run.env.app.strategy != "blue-green":
        return Reconciliation(state)
    return reconcile(state, reality, current_run=run.identity()["run_id"])


def repaired(run: Run, store: Store, entry: HistoryEntry, result: Reconciliation) -> DeployState:
    """The reconciled state; when it changed, said, recorded in `entry` and saved."""
    if result.changed:
        for line in result.lines():
            run.out.warn(f"state repaired: {line}")
        entry.state_repaired = result.lines()
        store.save(result.state)
    return result.state


def begin(run: Run, store: Store, state: DeployState, intent_color: Color, version: str, **flags: bool) -> None:
    """Write the intent into the journal before the change (ghosttasks.domain.deploy_state.Intent)."""
    from ghosttasks.domain.deploy_state import Intent

    state.intent = Intent(run.identity()["run_id"], run.task, run.now(), intent_color, version, **flags)
    store.save(state)


def settle(run: Run, store: Store, entry: HistoryEntry) -> DeployState | None:
    """After a change failed or was interrupted: the state made true from reality (the intent resolved).

    When the app hosts cannot be read, the LB alone decides (a colour a change may have touched is marked
    failed); when the LB cannot be read either, the intent stays in the journal for the next command. Best
    effort: the run's own error is what the user must see.
    """
    for containers in (True, False):
        try:
            return reconciled_state(run, store, entry, containers=containers)
        except Exception as exc:  # never hide the run's own error behind this one
            problem = exc
    run.out.warn(f"could not check the state against the LB ({problem}); the next command will resolve it")
    return None
