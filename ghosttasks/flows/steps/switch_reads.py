"""What traffic.switch plans from, read at once with one command per host it touches (issue 26).

Each LB: its access check (lb.sudo), whether it was set up (require_installed), its config and flag (the switch's
phase one), and on the state LB state.json. Each app host: its Docker access and which containers run. The
database host: its Docker access and the database's revision. All hosts are read at the same time, each in a
thread of its own (a dry run reads them in that order); the verdicts are then taken in the order they always were
(access, set up, TLS, the state against reality, the plan), so every refusal reads as it did and comes before
anything is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghosttasks.config.inventory import Host
from ghosttasks.decisions.reconcile import Reality
from ghosttasks.domain.colors import Color
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution.executor import Answered, Pending
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.access_check import access_facts, judge_access
from ghosttasks.flows.steps.migrate import heads_read, remember_heads
from ghosttasks.flows.steps.reality import containers_fact, containers_from, reconciliation
from ghosttasks.flows.steps.switching import fleet_fact, installed_fact, judge_installed
from ghosttasks.records.state_store import Store


@dataclass
class SwitchReads:
    """The reads started by start(): per host, its facts by name, and the pending answers."""

    run: Run
    store: Store
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host name -> {part: Fact}
    pending: dict[str, Pending[list[Answered[Any]]]] = field(default_factory=dict)
    heads_apart: Pending[tuple[str, ...]] | None = None  # a managed database: its client needs the password on stdin
    hosts: dict[str, Host] = field(default_factory=dict)
    db_host: str = ""  # where the revision is read (the database client's host)

    def answer(self, host: str, part: str) -> Answered[Any]:
        """One part of one host's read (waits for that host)."""
        answers = self.pending[host].result()
        return answers[list(self.facts[host]).index(part)]

    def value(self, host: str, part: str) -> Any:
        """One part's parsed value (it raises as Executor.read would)."""
        return self.answer(host, part).value()

    def lb_and_apps(self) -> None:
        """Wait for every LB and app host (not the database host)."""
        env = self.run.env
        for host in [*env.lb_hosts, *env.app_hosts]:
            if host.name in self.pending:
                self.pending[host.name].result()

    # -- the verdicts, in the order the switch always took them -----------------------------------------------
    def judge_access(self) -> None:
        """Every host's access check (the preflight), one OperationFailed naming every problem."""
        targets = [host for name, host in self.hosts.items() if "access" in self.facts[name]]
        if targets:
            judge_access(self.run, targets, [self.value(host.name, "access") for host in targets])

    def judge_installed(self) -> None:
        """Every LB was set up by traffic.install (require_installed)."""
        if self.run.env.lb is not None:
            judge_installed(self.run, [self.answer(host.name, "installed").result for host in self.run.env.lb_hosts])

    def views(self) -> list[tuple[list[str], str] | str]:
        """Phase one's view of every LB (switch_traffic judges them when it flips)."""
        return [self.value(host.name, "view") for host in self.run.env.lb_hosts]

    def recorded(self) -> DeployState:
        """state.json as read."""
        return self.value(self.store.host.name, "state")

    def reality(self) -> Reality:
        """The state LB's flag and every app host's containers, as read."""
        env = self.run.env
        lb_color = None
        if env.lb is not None:
            view = self.value(env.lb_host.name, "view")
            if isinstance(view, str):  # the LB could not be read: as a read of the flag alone fails
                raise OperationFailed(f"cannot tell which colour {env.lb_host.name} serves: {view}")
            lb_color = view[1]
        found = containers_from(self.run, [self.value(host.name, "containers") for host in env.app_hosts])
        return Reality(lb_color, found)  # type: ignore[arg-type]

    def expected_version(self, color: Color) -> str | None:
        """The version `color` runs by the state against reality, without saying or saving anything; None when
        the reads do not tell (the caller then waits for the plan)."""
        try:
            return reconciliation(self.run, self.recorded(), self.reality()).state.colors[color].runs
        except Exception:  # judged in order later: this is only a guess to start the health check on
            return None

    def heads(self) -> tuple[str, ...]:
        """The database's revision heads, kept for the run (database_heads answers them from now on)."""
        heads = self.heads_apart.result() if self.heads_apart else self.value(self.db_host, "heads")
        remember_heads(self.run, heads)
        return heads


def touched(run: Run) -> list[Host]:
    """The hosts a switch reads: every LB, every app host, the database client's host (once each)."""
    env = run.env
    hosts = [*env.lb_hosts, *env.app_hosts]
    if not env.database.managed and env.hosts_with("db"):
        hosts.append(env.db_host)
    elif env.database.managed:
        hosts.append(env.database_client_host)
    return list({host.name: host for host in hosts}.values())


def start(run: Run, store: Store, color: Color) -> SwitchReads:
    """Start every host's read (one command each, each in its own thread)."""
    env = run.env
    reads = SwitchReads(run, store)
    touched: list[Host] = [*env.lb_hosts, *env.app_hosts]
    access, heads = heads_read(run)
    if access.host.name not in {host.name for host in touched}:
        touched.append(access.host)
    checks = access_facts(run, touched)
    for host in touched:
        parts: dict[str, Any] = {}
        if host.name in checks:
            parts["access"] = checks[host.name]
        if env.lb is not None and host in env.lb_hosts:
            parts["installed"] = installed_fact(run)
            parts["view"] = fleet_fact(run, color)
            if host.name == store.host.name:
                parts["state"] = store.fact()
        if host in env.app_hosts:
            parts["containers"] = containers_fact(run, host)
        if host.name == store.host.name and "state" not in parts:
            parts["state"] = store.fact()
        if host.name == access.host.name and access.stdin is None:
            parts["heads"] = heads
        reads.facts[host.name], reads.hosts[host.name] = parts, host
    reads.db_host = access.host.name
    for name, parts in reads.facts.items():
        reads.pending[name] = run.executor.start(_reader(run, reads.hosts[name], list(parts.values())))
    if access.stdin is not None:
        reads.heads_apart = run.executor.start(lambda: access.read(run, heads))
    return reads


def _reader(run: Run, host: Host, facts: list[Any]) -> Callable[[], list[Answered[Any]]]:
    return lambda: run.executor.read_together(host, facts)
