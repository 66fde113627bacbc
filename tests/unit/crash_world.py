"""A simulated prod world for crash walks, and an executor over it that a test can kill like SIGKILL.

The world is data: the LB's flag, each colour's containers per app host, state.json's text, history.jsonl's
lines, the deploy lock's holder and the database's alembic revision. The executor interprets, by command
pattern, only the commands that read or change it; every other command answers its `assume` text, as a dry
run does. A kill at operation N (every `run`, each host of `run_parallel`, every `put` counts): operations
1..N-1 happened, N never does, and every later call raises Killed without touching the world.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from ghosttasks.commands import assumptions, nginx, postgres, qpath, render
from ghosttasks.config.inventory import Environment, Host
from ghosttasks.domain.colors import COLORS, Color
from ghosttasks.execution.run import Run
from ghosttasks.records.state_store import StateLocation
from ghosttasks.terminal.output import Output
from ghosttasks.testing import Answer, Call, CapturedOutput, ScriptedExecutor, a_run

#: compose subcommands that create, replace or stop a project's containers.
DISRUPTIVE = frozenset({"up", "down", "stop", "restart", "rm", "kill", "create", "pause"})
COMPOSE_RE = re.compile(r"(?:APP_VERSION=(\S+) )?docker compose -p (\S+)(?: -f \S+)* (\w+)")
MIGRATE_RE = re.compile(r"\balembic (?:upgrade|downgrade) (\S+)$")
FILES_RE = re.compile(r" -f \S+\.yml")  # compose file lists, left out where an operation is named


class Killed(BaseException):
    """The process was killed (SIGKILL): nothing after this reaches a host, no cleanup runs."""


@dataclass
class World:
    """What is really there, whatever state.json says."""

    green: bool  # the LB's flag file exists: traffic goes to green
    containers: dict[Color, dict[str, str | None]]  # colour -> app host -> the version its containers run
    state: str  # state.json's text
    history: list[str] = field(default_factory=list)  # history.jsonl's lines
    lock: str | None = None  # lock/info.json's text; None: the lock is free
    revision: str | None = None  # the database's alembic_version

    @property
    def serving(self) -> Color:
        return "green" if self.green else "blue"

    def copy(self) -> World:
        return copy.deepcopy(self)

    def record_disagrees(self) -> list[str]:
        """How state.json differs from the flag and the containers (the database is not compared: status does not
        compare it). A colour that is no target (failed, or empty) agrees while nothing runs there or the failed
        version does."""
        state = json.loads(self.state)
        found = [f"an unfinished intent: {state['intent']}"] if state.get("intent") else []
        if state.get("active") != self.serving:
            found.append(f"active is {state.get('active')}, the flag says {self.serving}")
        for color in COLORS:
            record, running = state["colors"][color], set(self.containers[color].values())
            good = None if record["failed_version"] else record["version"]
            if good and running != {good}:
                found.append(f"{color} is recorded as running {good}, runs {running}")
            if not good and running - {None} and record["failed_version"] not in running:
                found.append(f"{color} is recorded as no target, runs {running}")
        return found


def starting_world(env: Environment) -> World:
    """Green serves v1.1.0, blue holds v1.0.0, the database is at v1.1.0's head, state.json agrees."""
    state = copy.deepcopy(assumptions.STATE)
    state.deployed = [assumptions.OLDER_VERSION, assumptions.NEWER_VERSION]
    hosts = [host.name for host in env.app_hosts]
    return World(
        green=True,
        containers={color: dict.fromkeys(hosts, state.colors[color].version) for color in COLORS},
        state=state.to_json() + "\n",
        revision=assumptions.NEWER_HEAD,
    )


class WorldExecutor(ScriptedExecutor):
    """Runs the commands that read or change the world against it; a real run (not a dry run) otherwise."""

    def __init__(self, env: Environment, out: Output, world: World, *, kill_at: int | None = None) -> None:
        super().__init__(env, out, unscripted="assume")
        self.world = world
        self.kill_at = kill_at
        self.operations: list[str] = []  # every operation attempted, the killed one last
        self.compose: list[tuple[str, str, str]] = []  # (host, project, subcommand) of every compose command
        location = StateLocation.of(env)
        self.state_path = location.path("state.json")
        self.history_path = qpath(location.path("history.jsonl"))
        self.lock_dir = qpath(location.path("lock"))
        self.flag = qpath(env.flag_path)
        self.config = "".join(f"{text}{nginx.CONFIG_MARK}\n" for text in (render.upstream(env), render.selector(env)))
        self._script()

    @property
    def killed(self) -> bool:
        return self.kill_at is not None and len(self.operations) >= self.kill_at

    def _operation(self, host: str, what: str) -> None:
        """Count one operation; the one the kill lands on never happens."""
        if self.killed:
            raise Killed
        self.operations.append(f"[{host}] {FILES_RE.sub('', what)[:140]}")
        if self.killed:
            raise Killed

    def _run(self, host, command, *, timeout, stream, assume, stdin=None):
        self._operation(host.name, command)
        return super()._run(host, command, timeout=timeout, stream=stream, assume=assume, stdin=stdin)

    def put(self, host, content, path, *, mode=0o644):
        self._operation(host.name, f"upload {path}")
        super().put(host, content, path, mode=mode)
        if path == self.state_path:
            self.world.state = content

    def probe(self, description, check, *, assume):
        if self.killed:
            raise Killed
        return super().probe(description, check, assume=assume)

    def _script(self) -> None:
        """The world's commands, tried in this order; a command that only changes it answers its `assume`."""
        world = self.world

        def changes(change: Callable[[Call], object]) -> Callable[[Call], Answer]:
            return lambda call: change(call) or Answer(call.assume)

        # the LB config and the flag: the config is the one rendered
        self.on(nginx.CONFIG_MARK, reply=lambda call: Answer(f"{self.config}{world.serving}\n"))
        self.on(f"[ -e {self.flag} ]", reply=lambda call: Answer(f"{world.serving}\n"))
        self.on(
            lambda command: f"touch {self.flag}" in command or command == f"rm -f {self.flag}",
            reply=changes(lambda call: setattr(world, "green", "touch" in call.command)),
        )
        self.on(f'if mv -T "$t" {self.lock_dir} ', reply=self._acquire)
        self.on(  # the emergency freeze replaces any lock
            f'; mv -T "$t" {self.lock_dir} 2>/dev/null && break;',
            reply=changes(lambda call: setattr(world, "lock", _json_word(call.command))),
        )
        self.on(re.compile("^if grep -qF -- "), reply=changes(self._release))
        self.on(
            lambda command: command == f"rm -rf {self.lock_dir}",
            reply=changes(lambda call: setattr(world, "lock", None)),
        )
        self.on(re.compile(f"^cat {re.escape(self.lock_dir)}/info\\.json"), reply=lambda call: Answer(world.lock or ""))
        self.on(re.compile(f"^cat {re.escape(qpath(self.state_path))}"), reply=lambda call: Answer(world.state))
        self.on(f">> {self.history_path}", reply=changes(lambda call: world.history.append(_json_word(call.command))))
        self.on(
            lambda command: command.startswith("tail -n ") and self.history_path in command,
            reply=lambda call: Answer("".join(f"{line}\n" for line in world.history[-int(call.command.split()[2]) :])),
        )
        self.on(re.compile("^docker ps --filter label="), reply=lambda call: Answer(self._running(call.host)))
        self.on(postgres.ALEMBIC_VERSION_SQL, reply=lambda call: Answer(f"{world.revision}\n"))
        self.on(COMPOSE_RE, reply=changes(self._compose))

    def _acquire(self, call: Call) -> Answer:
        if self.world.lock is not None:
            return Answer(self.world.lock, exit_code=1)
        self.world.lock = _json_word(call.command)
        return Answer(call.assume)

    def _release(self, call: Call) -> None:
        """Released only by the run holding it: its id is the 5th word."""
        if self.world.lock is not None and shlex.split(call.command)[4] in self.world.lock:
            self.world.lock = None

    def _running(self, host: Host) -> str:
        """`docker ps`: each colour's containers, started from its version's release dir."""
        releases = self.env.releases_dir(host)
        return "".join(
            f"{self.env.app.project}-{color} {releases}/{version}\n"
            for color in COLORS
            if (version := self.world.containers[color][host.name])
        )

    def _compose(self, call: Call) -> None:
        host, command = call.host.name, call.command
        match = COMPOSE_RE.search(command)
        assert match is not None
        version, project, subcommand = match.groups()
        self.compose.append((host, project, subcommand))
        if migrated := MIGRATE_RE.search(command):
            self.world.revision = migrated.group(1)
        elif subcommand in DISRUPTIVE:
            color = project.removeprefix(f"{self.env.app.project}-")
            if subcommand != "up" or color not in COLORS or version is None:
                raise AssertionError(f"the crash world does not model: {command}")
            self.world.containers[color][host] = version


def _json_word(command: str) -> str:
    """The JSON document a command writes (a lock holder, a history line)."""
    return next(word for word in shlex.split(command) if word.startswith("{") and word != "{")


def world_run(env: Environment, world: World, task: str, kill_at: int | None = None) -> Run:
    """A run of `task` whose executor is a WorldExecutor over `world` (killed at operation `kill_at`), printing into
    a CapturedOutput."""
    out = CapturedOutput()
    return a_run(WorldExecutor(env, out, world, kill_at=kill_at), task=task, out=out)
