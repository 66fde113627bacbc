"""The interface flows run commands through: `Executor` (run one, run on many hosts, upload, probe).

Implementations: `ghosttasks.execution.ssh_executor.SSHExecutor` (Fabric over SSH, local hosts through
invoke) and `ghosttasks.execution.plan_recorder.PlanRecorder` (dry run: records the plan, connects nowhere).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from ghosttasks.commands.facts import Fact, assumed_together, split_parts, together
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.decisions.probe_routes import route
from ghosttasks.domain.errors import CommandFailed, OperationFailed
from ghosttasks.terminal.folding import Fold, noisy_phase
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.runlog import RunLog
from ghosttasks.terminal.step_events import StepFeed

T = TypeVar("T")
TIMEOUT_EXIT = 124
UNREACHABLE_EXIT = 255
MAX_PARALLEL = 32


@dataclass(frozen=True)
class Result:
    host: str
    command: str
    stdout: str
    stderr: str
    exit_code: int
    duration: float
    timed_out: bool = False
    hint: str | None = None  # what to do about it (an unreachable host's OperationFailed hint)
    tail: tuple[str, ...] = ()  # a folded command's last output lines (ghosttasks.terminal.folding), shown on failure

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        if self.timed_out:
            return f"[{self.host}] timed out after {self.duration:g} s"
        detail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-3:]
        tail = " | ".join(detail) if detail else "no output"
        return f"[{self.host}] exit {self.exit_code}: {tail}"


CommandFor = str | Callable[[Host], str]


@dataclass(frozen=True)
class Probe(Generic[T]):
    """One probe for Executor.probe_all: what it checks, the check, and what a dry run assumes it returns."""

    description: str
    check: Callable[[], T]
    assume: T


@dataclass(frozen=True)
class Answered(Generic[T]):
    """One fact of a read_together: its own answer (a Result as if it had run alone), parsed when asked."""

    fact: Fact[T]
    result: Result

    def value(self) -> T:
        """The parsed answer; a failed one of a checked fact raises CommandFailed, as Executor.read does."""
        if self.fact.check and not self.result.ok:
            what = self.fact.what or "command"
            raise CommandFailed(f"{what} failed: {self.result.describe()}", results=[self.result])
        return self.fact.parse(self.result)


class Pending(Generic[T]):
    """Work started by Executor.start: a thread of its own (a dry run did it at once, in order)."""

    def __init__(self, work: Callable[[], T], *, at_once: bool) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if at_once:
            self._do(work)
        else:
            self._thread = threading.Thread(target=self._do, args=(work,), daemon=True, name="pending")
            self._thread.start()

    def _do(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc

    def result(self) -> T:
        """Wait for the work; its value, or its exception raised here."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Executor:
    """The interface flows use. Subclasses: SSHExecutor (real) and PlanRecorder (dry run)."""

    dry_run = False

    def __init__(self, env: Environment, output: Output, log: RunLog | None = None) -> None:
        self.env = env
        self.output = output
        self.log = log
        self.feed: StepFeed | None = None  # where folded commands report their hosts' status (the live step list)
        self.verbose = False  # stream noisy commands' output instead of folding it
        self._tunnel_client: Any = None
        self._tunnel_lock = threading.Lock()
        from ghosttasks.execution import trust

        trust.configure(env.probes.ca_file)  # what every direct HTTPS probe of this run verifies with

    # -- to implement ---------------------------------------------------------------
    def _run(
        self, host: Host, command: str, *, timeout: float, stream: bool | str, assume: str, stdin: str | None = None
    ) -> Result:
        raise NotImplementedError

    def put(self, host: Host, content: str, path: str, *, mode: int = 0o644) -> None:
        """Write a file atomically on the host (temp file + rename) with this mode."""
        raise NotImplementedError

    def probe(self, description: str, check: Callable[[], T], *, assume: T) -> T:
        """Run an HTTP probe from this machine (recorded, not run, in a dry run)."""
        raise NotImplementedError

    def open_channel(self, host: Host, address: str, port: int, *, timeout: float) -> Any:
        """A direct-tcpip channel to (address, port) over the run's SSH connection to `host`."""
        raise NotImplementedError

    def probe_all(self, probes: Sequence[Probe[T]]) -> list[T]:
        """Run several probes at once, one thread each; their answers in the order given.

        The checks must bound their own time (a deadline). On an exception (Ctrl-C here, or a check
        that raised) this returns at once without waiting for the threads still running: the caller
        tells them to stop.
        """
        if len(probes) <= 1:
            return [self.probe(item.description, item.check, assume=item.assume) for item in probes]
        pool = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="probe")
        try:
            futures = [pool.submit(self.probe, item.description, item.check, assume=item.assume) for item in probes]
            wait(futures, return_when=FIRST_EXCEPTION)
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def http_client(self, url: str) -> Any:
        """The httpx client a probe to `url` goes through; None: the probe's own, straight from this machine.

        Internal URLs get the run's one client through SSH when probes go that way (probe_routes): its
        connections are channels of the SSH connections (ghosttasks.execution.tunnels), kept alive between probes.
        """
        if not route(self.env, url).ssh:
            return None
        with self._tunnel_lock:
            if self._tunnel_client is None:
                from ghosttasks.execution.tunnels import tunnel_client

                self._tunnel_client = tunnel_client(self.env, self.open_channel)
            return self._tunnel_client

    def close(self) -> None:
        """Close every connection this run opened."""
        with self._tunnel_lock:
            client, self._tunnel_client = self._tunnel_client, None
        if client is not None:
            client.close()

    def fold(self, host: Host, command: str, stream: bool | str = True) -> Fold | None:
        """A streamed command that prints progress (build, pull, up), or one streamed under a phase name (`stream`
        a string: an app's smoke script), folds unless verbose: its Fold, else None."""
        phase = None if self.verbose else (stream if isinstance(stream, str) else noisy_phase(command))
        return Fold(host.name, phase, feed=self.feed, log=self.log) if phase else None

    def section(self, title: str) -> None:
        """Mark the start of a section of the work (a Run.step, the guard's lock and history): a plan heading."""

    def note(self, text: str) -> None:
        """An explanatory line in a dry-run plan (for example what a read is assumed to return)."""

    # -- shared behaviour -------------------------------------------------------------
    def run(
        self,
        host: Host,
        command: str,
        *,
        timeout: float | None = None,
        check: bool = True,
        stream: bool | str = False,
        what: str | None = None,
        stdin: str | None = None,
    ) -> Result:
        """Run one command; with check, a non-zero exit raises CommandFailed naming host and output.

        `stream`: True shows its output as it comes (docker builds, pulls and starts fold, see
        ghosttasks.terminal.folding); a string folds it under that name (its lines go to the run log, its last
        ones into the Result's `tail`).

        `stdin` is written to the command's standard input, then closed (a secret: never in argv, never
        logged or shown; callers add it to the masker too). A read that steers a decision is a Fact: read().
        """
        return self._checked(host, command, timeout, check, stream, "", what, stdin)

    def read(self, host: Host, fact: Fact[T], *, timeout: float | None = None, stdin: str | None = None) -> T:
        """Run a fact's command and parse its answer (a dry run parses the fact's assumed answer)."""
        result = self._checked(host, fact.command, timeout, fact.check, fact.stream, fact.assumed, fact.what, stdin)
        return fact.parse(result)

    def read_parallel(
        self, hosts: Iterable[Host], fact: Callable[[Host], Fact[T]], *, timeout: float | None = None
    ) -> list[T]:
        """A (per-host) fact read on every host at once: the parsed answers in the order of `hosts`.

        As run_parallel: an unreachable host is a failed answer (exit UNREACHABLE_EXIT); with the fact's
        check, any failed host raises one CommandFailed after all finished, else its parser judges it.
        """
        targets = list(hosts)
        facts = {host.name: fact(host) for host in targets}
        first = next(iter(facts.values()), None)
        results = self._parallel(
            targets,
            lambda host: facts[host.name].command,
            timeout=timeout,
            check=first is not None and first.check,
            stream=False,
            assume=lambda host: facts[host.name].assumed,
            what=first.what if first else None,
            stdin=None,
        )
        return [facts[host.name].parse(result) for host, result in zip(targets, results, strict=True)]

    def read_together(self, host: Host, facts: Sequence[Fact[Any]], *, stdin: str | None = None) -> list[Answered[Any]]:
        """Several facts read on one host with one command (ghosttasks.commands.facts.together): each answered as if
        it had run alone. A host that could not be reached, or a command cut short, answers every part not
        finished with the whole command's failure. Nothing raises here: Answered.value() does, per fact."""
        for fact in facts:
            if fact.note:
                self.note(fact.note)
        whole = self._answer_together(host, facts, stdin)
        return self._split(whole, facts)

    def read_together_parallel(
        self, reads: dict[str, tuple[Host, Sequence[Fact[Any]]]]
    ) -> dict[str, list[Answered[Any]]]:
        """read_together on several hosts at once (one command each, one key per host): per key, its facts'
        answers."""
        keys = list(reads)
        for key in keys:
            for fact in reads[key][1]:
                if fact.note:
                    self.note(fact.note)
        hosts = [reads[key][0] for key in keys]
        by_host = {host.name: key for key, host in zip(keys, hosts, strict=True)}
        wholes = self._fan_out(hosts, lambda host: self._answer_together(host, reads[by_host[host.name]][1], None))
        return {key: self._split(whole, reads[key][1]) for key, whole in zip(keys, wholes, strict=True)}

    def _answer_together(self, host: Host, facts: Sequence[Fact[Any]], stdin: str | None) -> Result:
        command = together([fact.command for fact in facts])
        assumed = assumed_together([fact.assumed for fact in facts])
        what = ", ".join(fact.what for fact in facts)
        try:
            return self._checked(host, command, None, False, False, assumed, what, stdin)
        except OperationFailed as exc:  # unreachable: every part answers it
            return Result(host.name, command, "", f"{exc}", UNREACHABLE_EXIT, 0.0, hint=exc.hint)

    @staticmethod
    def _split(whole: Result, facts: Sequence[Fact[Any]]) -> list[Answered[Any]]:
        answers = []
        for fact, part in zip(facts, split_parts(whole.stdout, len(facts)), strict=True):
            if part is None:
                code = whole.exit_code if not whole.ok else UNREACHABLE_EXIT
                result = replace(whole, command=fact.command, exit_code=code, stdout="")
            else:
                out, err, code = part
                result = replace(whole, command=fact.command, stdout=out, stderr=err, exit_code=code)
            answers.append(Answered(fact, result))
        return answers

    def ahead(self, work: Callable[[], object]) -> None:
        """Start work nobody waits for, done ahead so that what needs it later finds it ready (a library imported,
        a template compiled) while the command waits on SSH; its errors are left for that later use to meet.
        Nothing in a dry run, which waits on nothing."""

    def connect_ahead(self, hosts: Iterable[Host]) -> None:
        """Open the connections to `hosts` in the background, each in a thread of its own, for a command that is
        about to use them all (a failure is met by the first command on that host). Nothing in a dry run."""

    def start(self, work: Callable[[], T]) -> Pending[T]:
        """Start `work` in a thread of its own (its result asked later); the plan recorder does it here and now,
        so that a plan lists it in the order the flow started it."""
        return Pending(work, at_once=False)

    def _checked(
        self,
        host: Host,
        command: str,
        timeout: float | None,
        check: bool,
        stream: bool | str,
        assume: str,
        what: str | None,
        stdin: str | None,
    ) -> Result:
        timeout = timeout or self.env.ssh.command_timeout
        result = self._run(host, command, timeout=timeout, stream=stream, assume=assume, stdin=stdin)
        if self.log:
            self.log.command(result)
        if check and not result.ok:
            raise CommandFailed(f"{what or 'command'} failed: {result.describe()}", results=[result])
        return result

    def run_parallel(
        self,
        hosts: Iterable[Host],
        command: CommandFor,
        *,
        timeout: float | None = None,
        check: bool = True,
        stream: bool = False,
        what: str | None = None,
        stdin: str | None = None,
    ) -> list[Result]:
        """The same (or a per-host) command on every host at once (at most MAX_PARALLEL at a time).

        `command` may be per host. Returns one Result per host, in the order
        of `hosts`. A host that cannot be reached counts as a failed Result (exit UNREACHABLE_EXIT, the reason
        in stderr); nothing escapes from one host.
        With check (the default), any failed host raises one CommandFailed after all hosts finished:
        its message names every failed host with its exit and last output lines, its `results` holds
        every host's Result, its hint the hosts' hints (an unknown host key says how to trust it).
        Without check, failures are only in the returned Results.
        """
        return self._parallel(
            list(hosts), command, timeout=timeout, check=check, stream=stream, assume="", what=what, stdin=stdin
        )

    def _parallel(
        self,
        targets: list[Host],
        command: CommandFor,
        *,
        timeout: float | None,
        check: bool,
        stream: bool,
        assume: CommandFor,
        what: str | None,
        stdin: str | None,
    ) -> list[Result]:
        def one(host: Host) -> Result:
            text = command(host) if callable(command) else command
            assumed = assume(host) if callable(assume) else assume
            try:
                return self._checked(host, text, timeout, False, stream, assumed, what, stdin)
            except OperationFailed as exc:  # unreachable: one host's failure among the others
                return Result(host.name, text, "", f"{exc}", UNREACHABLE_EXIT, 0.0, hint=exc.hint)

        results = self._fan_out(targets, one)
        failed = [result for result in results if not result.ok]
        if check and failed:
            names = ", ".join(result.host for result in failed)
            details = "; ".join(result.describe() for result in failed)
            hints = dict.fromkeys(result.hint for result in failed if result.hint)
            raise CommandFailed(
                f"{what or 'command'} failed on {len(failed)} of {len(results)} hosts ({names}): {details}",
                results=results,
                hint="; ".join(hints) or None,
            )
        return results

    def _fan_out(self, hosts: list[Host], one: Callable[[Host], Result]) -> list[Result]:
        if len(hosts) <= 1:
            return [one(host) for host in hosts]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(hosts))) as pool:
            return list(pool.map(one, hosts))


class LineWriter(io.TextIOBase):
    """A stream for invoke's out_stream that prints complete lines, prefixed and masked."""

    def __init__(self, output: Output, host: str, *, stderr: bool = False) -> None:
        self._output, self._host, self._stderr, self._buffer = output, host, stderr, ""

    def write(self, chunk: str) -> int:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._output.host_line(self._host, line.rstrip("\r"), stderr=self._stderr)
        return len(chunk)

    def flush(self) -> None:
        """Nothing: invoke flushes after every chunk, and a chunk may end mid-line (end() prints the rest)."""

    def end(self) -> None:
        """The command ended: print a last line that had no newline."""
        if self._buffer:
            self._output.host_line(self._host, self._buffer, stderr=self._stderr)
            self._buffer = ""
