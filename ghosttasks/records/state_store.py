"""Deploy state (state.json) on the LB host (first app host without an LB): where it lives, read and written.

state.json    active colour; version, alembic head and image digests per colour; alembic head, image
              digests per version; the versions in the order they were deployed (retention); the intent
              of a run that is replacing a colour's containers (the journal, cleared when it is done)
Its model is ghosttasks.domain.deploy_state. history.jsonl (ghosttasks.records.history) and the deploy
lock (ghosttasks.records.deploy_lock) live in the same directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from ghosttasks.commands import qpath, remote_file
from ghosttasks.commands.facts import Fact
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.execution.run import Run


@dataclass(frozen=True)
class StateLocation:
    """Where state, history and the lock live: the LB host's state dir (else the first app host's)."""

    host: Host
    directory: str

    @classmethod
    def of(cls, env: Environment) -> StateLocation:
        """The state location of an environment."""
        if env.lb is not None:
            return cls(env.lb_host, env.lb.state_dir)
        first = env.app_hosts[0]
        return cls(first, f"{env.app_dir(first)}/.ghosttasks")

    def path(self, name: str) -> str:
        """A file in the state dir."""
        return f"{self.directory}/{name}"


class Store:
    """Reads and writes state.json on the state host through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.location = StateLocation.of(run.env)
        self.host = self.location.host

    def load(self) -> DeployState:
        """The recorded state; a corrupt file is reported and never overwritten."""
        return self.run.executor.read(self.host, self.fact())

    def fact(self) -> Fact[DeployState]:
        """The read of state.json on self.host (load reads it alone; a flow may read it with its other reads)."""
        return remote_file.deploy_state(self.location.path("state.json"))

    def save(self, state: DeployState) -> None:
        """Write state.json atomically (stamped with the current time)."""
        state.updated_at = self.run.now()
        self.run.executor.run(self.host, f"mkdir -p {qpath(self.location.directory)}", what="create state dir")
        self.run.executor.put(self.host, state.to_json() + "\n", self.location.path("state.json"), mode=0o644)
