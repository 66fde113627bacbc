"""PURE commands that stop and start one colour's worker services (app.workers), and the stop's parser.

A graceful stop sends the worker's own stop signal (`docker kill -s`: it marks the container stopped by
hand, so no restart policy brings it back), waits up to the stop timeout for it to exit (`docker wait`
under `timeout`), and only then kills it (SIGKILL). It prints which of the two happened, then each
container's exit code (`docker inspect`), so the tool can say "stopped" or "killed after N s" per host.
A start is compose's `up -d --no-deps` of the workers: a container already running its image is left
alone, a stopped one is started, one of another version is recreated.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

from ghosttasks.commands.compose import Project, running_ids, up
from ghosttasks.commands.facts import Answer, Fact

#: Seconds the stop waits for a killed container to be gone (after SIGKILL nothing is left to wait for).
KILL_WAIT_SECONDS = 5
#: The first line a stop prints, per outcome.
NOT_RUNNING, STOPPED, KILLED = "not-running", "stopped", "killed"


def stop(project: Project, service: str, signal: str, timeout: int) -> str:
    """Stop `service`'s running containers of the project: `signal`, up to `timeout` s, then SIGKILL.

    Prints `not-running`, `stopped` or `killed`, then `<container> <exit code>` per container."""
    sig = shlex.quote(signal)
    inspect = shlex.quote("{{.Name}} {{.State.ExitCode}}")
    return (
        f"ids=$({running_ids(project.name, service)}) && "
        f'if [ -z "$ids" ]; then echo {NOT_RUNNING}; '
        f"else docker kill -s {sig} $ids > /dev/null; "
        f"if timeout {int(timeout)} docker wait $ids > /dev/null; then echo {STOPPED}; "
        f"else docker kill -s SIGKILL $ids > /dev/null 2>&1; "
        f"timeout {KILL_WAIT_SECONDS} docker wait $ids > /dev/null; echo {KILLED}; fi && "
        f"docker inspect --format {inspect} $ids; fi"
    )


def start(project: Project, services: list[str]) -> str:
    """Start the colour's workers (compose `up -d --no-deps`; never the shared services)."""
    return up(project, services)


@dataclass(frozen=True)
class StopOutcome:
    """What a stop did on one host: nothing was running, the worker exited within its timeout, or it was
    killed; and each container's exit code."""

    how: Literal["not-running", "stopped", "killed"]
    exits: dict[str, int]

    def describe(self, service: str, signal: str, timeout: int) -> str:
        """`worker stopped on SIGTERM (exit 0)` / `worker killed: no exit within 30 s of SIGTERM (exit 137)`."""
        codes = ", ".join(str(code) for code in self.exits.values())
        exits = f" (exit {codes})" if codes else ""
        if self.how == NOT_RUNNING:
            return f"{service} was not running"
        if self.how == STOPPED:
            return f"{service} stopped on {signal}{exits}"
        return f"{service} killed: no exit within {timeout} s of {signal}{exits}"


def parse_stop(text: str) -> StopOutcome:
    """stop's output as a StopOutcome; ValueError when it is not what stop prints."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or lines[0] not in (NOT_RUNNING, STOPPED, KILLED):
        raise ValueError(f"unexpected worker stop output: {text.strip()[:200]!r}")
    exits: dict[str, int] = {}
    for line in lines[1:]:
        name, _, code = line.rpartition(" ")
        if not name or not code.lstrip("-").isdigit():
            raise ValueError(f"unexpected worker stop output line: {line[:200]!r}")
        exits[name.lstrip("/")] = int(code)
    return StopOutcome(lines[0], exits)  # type: ignore[arg-type]


def stop_fact(project: Project, service: str, signal: str, timeout: int) -> Fact[StopOutcome]:
    """The stop as a read: a dry run assumes the worker exited on its signal."""

    def parse(answer: Answer) -> StopOutcome:
        return parse_stop(answer.stdout)

    assumed = f"{STOPPED}\n{project.name}-{service}-1 0\n"
    return Fact(
        f"stop {service} ({signal}, {int(timeout)} s, then kill)",
        stop(project, service, signal, timeout),
        parse,
        assumed,
    )


#: One line per running (or restarting) compose container: its project, service, state and restart count.
CONTAINER_FORMAT = (
    '{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} '
    "{{.State.Status}} {{.RestartCount}}"
)


@dataclass(frozen=True)
class Container:
    """A compose container docker shows on a host (`docker ps`: running or restarting)."""

    project: str
    service: str
    status: str
    restarts: int


def containers() -> str:
    """Every running or restarting compose container on the host, as CONTAINER_FORMAT lines (read from docker,
    not from any record)."""
    return (
        "docker ps -q --filter label=com.docker.compose.project | "
        f"xargs -r docker inspect --format {shlex.quote(CONTAINER_FORMAT)}"
    )


def parse_containers(text: str) -> list[Container]:
    """containers()' answer; ValueError on a line it does not print."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4 or not fields[3].isdigit():
            raise ValueError(f"unexpected container line: {line.strip()[:200]!r}")
        found.append(Container(fields[0], fields[1], fields[2], int(fields[3])))
    return found


def containers_fact(assumed: list[Container]) -> Fact[list[Container]]:
    """The host's compose containers; a dry run assumes `assumed` run."""
    text = "".join(f"{c.project} {c.service} {c.status} {c.restarts}\n" for c in assumed)
    return Fact("compose containers", containers(), lambda answer: parse_containers(answer.stdout), text)
