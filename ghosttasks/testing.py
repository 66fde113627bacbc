"""Test doubles for code that runs through an Executor (like Invoke's MockContext and httpx's MockTransport).

`ScriptedExecutor` answers commands by rule and records what ran; `prod()`, `env(name)` and `a_run(...)` give the
checkout's hosts.yml and a Run over a double with its printed text captured. Imports execution and below.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ghosttasks.commands.facts import Fact, printed_together, together
from ghosttasks.config.inventory import Environment, Host, Inventory, load_inventory
from ghosttasks.execution.executor import Executor, Result, T
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.run import Run
from ghosttasks.terminal.output import Output

#: The repository's hosts.yml (a checkout has it; the wheel does not ship it).
SHIPPED_INVENTORY = Path(__file__).resolve().parents[1] / "hosts.yml"

#: What selects a command (or a probe's description): a fragment it contains, a regex it matches, or a predicate.
Match = str | re.Pattern[str] | Callable[[str], bool]


@dataclass(frozen=True)
class Answer:
    """What a scripted command prints and exits with."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class Call:
    """What a computed reply is given: the host, the command, and the answer a dry run would assume."""

    host: Host
    command: str
    assume: str


@dataclass(frozen=True)
class Command:
    """One command the double was asked to run; `stdin` says whether one was given (its text is not kept)."""

    host: str
    command: str
    stdin: bool = False


@dataclass(frozen=True)
class Upload:
    """One file put on a host."""

    host: str
    path: str
    mode: int
    content: str


@dataclass(frozen=True)
class Rule:
    """One scripted answer: which commands, on which host, answered how."""

    match: Match
    reply: Answer | Callable[[Call], Answer]
    host: str | None = None  # None: every host


class UnscriptedCommand(AssertionError):
    """A strict ScriptedExecutor was asked to run a command no rule answers."""


def _matches(match: Match, text: str) -> bool:
    """`text` contains the fragment, matches the regex (anywhere) or satisfies the predicate."""
    if isinstance(match, str):
        return match in text
    if isinstance(match, re.Pattern):
        return match.search(text) is not None
    return match(text)


class ScriptedExecutor(PlanRecorder):
    """An Executor whose commands answer by rule: the first matching rule wins, in the order they were added.

    Every command is recorded in `commands` and every upload in `uploads`, in order; `entries` (and `text()`)
    hold them as a dry-run plan shows them. A command no rule answers succeeds with no output ("empty"),
    answers what a dry run assumes (a fact's assumed answer), as the plan recorder does ("assume"), or raises
    UnscriptedCommand naming it ("strict"). A probe answers its assumed value unless a probe rule says
    otherwise. `dry_run` (False by default) is what the Run sees: False gives a real run's confirmations,
    clock and identity.
    """

    def __init__(
        self,
        env: Environment,
        output: Output | None = None,
        *,
        dry_run: bool = False,
        unscripted: Literal["empty", "assume", "strict"] = "empty",
    ) -> None:
        super().__init__(env, output or Output(silent=True))
        self.dry_run = dry_run
        self.unscripted = unscripted
        self.rules: list[Rule] = []
        self.probe_rules: list[tuple[Match, Callable[[Callable[[], Any]], Any]]] = []
        self.commands: list[Command] = []
        self.uploads: list[Upload] = []

    def on(
        self,
        match: Match,
        stdout: str = "",
        stderr: str = "",
        exit_code: int = 0,
        *,
        host: str | None = None,
        reply: Callable[[Call], Answer] | None = None,
    ) -> ScriptedExecutor:
        """Answer the commands `match` selects (on `host` only, when given) with this output, or what `reply`
        computes from the Call."""
        self.rules.append(Rule(match, reply or Answer(stdout, stderr, exit_code), host))
        return self

    def on_probe(self, match: Match, reply: Callable[[Callable[[], Any]], Any]) -> ScriptedExecutor:
        """Answer the probes whose description `match` selects with `reply(check)` (it may run or raise)."""
        self.probe_rules.append((match, reply))
        return self

    def _answer_together(self, host: Host, facts: Sequence[Fact[Any]], stdin: str | None) -> Result:
        """A read of several facts at once: the plan shows the one command; each fact is answered by the rules as
        if it had been read alone (and recorded in `commands` as such)."""
        whole = PlanRecorder._run(
            self, host, together([fact.command for fact in facts]), timeout=0, stream=False, assume=""
        )
        parts = [self._answer(host, fact.command, fact.assumed, stdin) for fact in facts]
        printed = printed_together([(part.stdout, part.stderr, part.exit_code) for part in parts])
        return replace(whole, stdout=printed)

    def _run(
        self, host: Host, command: str, *, timeout: float, stream: bool | str, assume: str, stdin: str | None = None
    ) -> Result:
        super()._run(host, command, timeout=timeout, stream=stream, assume=assume, stdin=stdin)
        return self._answer(host, command, assume, stdin)

    def _answer(self, host: Host, command: str, assume: str, stdin: str | None) -> Result:
        planned = Result(host.name, command, assume, "", 0, 0.0)
        self.commands.append(Command(host.name, command, stdin is not None))
        rule = next((r for r in self.rules if r.host in (None, host.name) and _matches(r.match, command)), None)
        if rule is not None:
            answer = rule.reply if isinstance(rule.reply, Answer) else rule.reply(Call(host, command, assume))
            return Result(host.name, command, answer.stdout, answer.stderr, answer.exit_code, 0.0)
        if self.unscripted == "strict":
            raise UnscriptedCommand(f"no rule answers [{host.name}] $ {command}")
        return planned if self.unscripted == "assume" else Result(host.name, command, "", "", 0, 0.0)

    def put(self, host: Host, content: str, path: str, *, mode: int = 0o644) -> None:
        super().put(host, content, path, mode=mode)
        self.uploads.append(Upload(host.name, path, mode, content))

    def probe(self, description: str, check: Callable[[], T], *, assume: T) -> T:
        assumed = super().probe(description, check, assume=assume)
        reply = next((reply for match, reply in self.probe_rules if _matches(match, description)), None)
        return assumed if reply is None else reply(check)


class CapturedOutput(Output):
    """An Output that prints into memory: `printed` is everything shown on stdout so far."""

    def __init__(self) -> None:
        self._captured = io.StringIO()
        super().__init__(stream=self._captured)

    @property
    def printed(self) -> str:
        return self._captured.getvalue()


@functools.cache
def shipped() -> Inventory:
    """The checkout's hosts.yml, loaded once."""
    return load_inventory(SHIPPED_INVENTORY)


def env(name: str) -> Environment:
    """One environment of the shipped hosts.yml."""
    return shipped().env(name)


def prod() -> Environment:
    """The shipped prod environment."""
    return env("prod")


def a_run(executor: Executor, *, task: str = "deploy.prod", out: Output | None = None) -> Run:
    """A Run of `task` over `executor` in its environment, printing into a CapturedOutput unless `out` is given."""
    return Run(executor.env, executor, out or CapturedOutput(), task)
