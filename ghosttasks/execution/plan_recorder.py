"""Dry run: an Executor that records every command, upload and probe in order and opens no connection."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ghosttasks.commands.facts import Fact
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.domain.masking import mask
from ghosttasks.execution.executor import Executor, Pending, Probe, Result, T
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.runlog import RunLog


class PlanRecorder(Executor):
    """Dry run: records every command, upload and probe in order; opens no connection."""

    dry_run = True

    def __init__(self, env: Environment, output: Output, log: RunLog | None = None) -> None:
        super().__init__(env, output, log)
        self.entries: list[str] = []

    def note(self, text: str) -> None:
        self.entries.append(f"# {text}")

    def section(self, title: str) -> None:
        self.entries.append(f"\n== {title}")

    def _run(
        self, host: Host, command: str, *, timeout: float, stream: bool | str, assume: str, stdin: str | None = None
    ) -> Result:
        given = " (a secret on stdin)" if stdin is not None else ""
        self.entries.append(f"[{host.name}] $ {mask(command)}{given}")
        return Result(host.name, command, assume, "", 0, 0.0)

    def read(self, host: Host, fact: Fact[T], *, timeout: float | None = None, stdin: str | None = None) -> T:
        """The fact answered from its assumed answer; its note (what is assumed) said first."""
        if fact.note:
            self.note(fact.note)
        return super().read(host, fact, timeout=timeout, stdin=stdin)

    def _fan_out(self, hosts: list[Host], one: Callable[[Host], Result]) -> list[Result]:
        return [one(host) for host in hosts]

    def start(self, work: Callable[[], T]) -> Pending[T]:
        """Done here and now: the plan lists it in the order the flow started it."""
        return Pending(work, at_once=True)

    def put(self, host: Host, content: str, path: str, *, mode: int = 0o644) -> None:
        self.entries.append(f"[{host.name}] upload {path} (mode {mode:04o}):")
        self.entries.extend(f"    | {mask(line)}" for line in content.rstrip("\n").split("\n"))

    def probe(self, description: str, check: Callable[[], T], *, assume: T) -> T:
        self.entries.append(f"probe {mask(description)}")
        return assume

    def probe_all(self, probes: Sequence[Probe[T]]) -> list[T]:
        return [self.probe(item.description, item.check, assume=item.assume) for item in probes]

    def http_client(self, url: str) -> None:
        """No client: a dry run sends no request (the plan says which way each probe would go)."""
        return None

    def text(self) -> str:
        return "\n".join(self.entries).strip("\n") + "\n"
