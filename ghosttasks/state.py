"""Deploy state, history (audit) and the deploy lock, kept on the LB host (first app host without an LB).

state.json   active colour; version and alembic head per colour; alembic head per version
history.jsonl one line per run: who, where from, what, result, failing step, step timings
lock/        made with mkdir; lock/info.json names the holder. A frozen lock (emergency) is
             lifted only by `inv deploy.unlock`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ghosttasks.commands import lock as lock_commands
from ghosttasks.commands import qpath
from ghosttasks.errors import DeployLocked, OperationFailed
from ghosttasks.inventory import Host
from ghosttasks.run import PLAN_TIME, Run
from ghosttasks.validate import COLORS


@dataclass
class ColorState:
    version: str | None = None
    alembic_head: str | None = None
    deployed_at: str | None = None
    failed_version: str | None = None  # a failed deploy left this version's containers here

    @property
    def runs(self) -> str | None:
        """The known-good version this colour serves, or None when a failed deploy replaced it."""
        return None if self.failed_version else self.version


@dataclass
class DeployState:
    active: str | None = None
    previous: str | None = None
    colors: dict[str, ColorState] = field(default_factory=lambda: {color: ColorState() for color in COLORS})
    version_heads: dict[str, str] = field(default_factory=dict)
    updated_at: str | None = None

    @property
    def idle(self) -> str:
        """The colour a new version goes into: the one not serving (blue on the very first deploy)."""
        return "green" if self.active == "blue" else "blue"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeployState:
        data = json.loads(text)
        colors = {color: ColorState(**data.get("colors", {}).get(color, {})) for color in COLORS}
        return cls(
            active=data.get("active"),
            previous=data.get("previous"),
            colors=colors,
            version_heads=dict(data.get("version_heads", {})),
            updated_at=data.get("updated_at"),
        )


#: What a dry run assumes the LB's state file says (it opens no connection to read it).
ASSUMED_STATE = DeployState(
    active="green",
    previous="blue",
    colors={
        "blue": ColorState("v1.0.0", "0002b2c3d4e5", PLAN_TIME),
        "green": ColorState("v1.1.0", "0003c3d4e5f6", PLAN_TIME),
    },
    version_heads={"v1.0.0": "0002b2c3d4e5", "v1.1.0": "0003c3d4e5f6"},
    updated_at=PLAN_TIME,
)


class Store:
    """Reads and writes state, history and the lock on the state host through the run's executor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        env = run.env
        if env.lb is not None:
            self.host: Host = env.lb_host
            self.directory = env.lb.state_dir
        else:
            self.host = env.app_hosts[0]
            self.directory = f"{env.app_dir(self.host)}/.ghosttasks"

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}"

    # -- state -------------------------------------------------------------------------
    def load(self) -> DeployState:
        """The recorded state; a corrupt file is reported and never overwritten."""
        assumed = ASSUMED_STATE.to_json()
        if self.run.dry_run:
            self.run.note(f"dry run: state.json is assumed to say {_describe(ASSUMED_STATE)}")
        text = self.run.executor.run(
            self.host, lock_commands.read_file(self._path("state.json")), assume=assumed, what="read deploy state"
        ).stdout
        if not text.strip():
            return DeployState()
        try:
            return DeployState.from_json(text)
        except (ValueError, TypeError) as exc:
            raise OperationFailed(
                f"{self.host.name}:{self._path('state.json')} is corrupt ({exc}); it was left as it is",
                hint="inspect it, fix or move it aside, then run `inv traffic.status` to check what is serving",
            ) from None

    def save(self, state: DeployState) -> None:
        state.updated_at = self.run.now()
        self.run.executor.run(self.host, f"mkdir -p {qpath(self.directory)}", what="create state dir")
        self.run.executor.put(self.host, state.to_json() + "\n", self._path("state.json"), mode=0o644)

    # -- history -----------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True, default=str)
        self.run.executor.run(self.host, lock_commands.append_line(self._path("history.jsonl"), line), what="history")

    def history(self, limit: int) -> list[dict[str, Any]]:
        text = self.run.executor.run(self.host, lock_commands.tail_lines(self._path("history.jsonl"), limit)).stdout
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    entries.append({"result": "unreadable", "line": number})
        return entries

    # -- lock --------------------------------------------------------------------------
    def lock_info(self, *, version: str | None, reason: str, frozen: bool = False) -> dict[str, Any]:
        return {
            **self.run.identity(),
            "task": self.run.task,
            "version": version,
            "reason": reason,
            "since": self.run.now(),
            "since_epoch": 0 if self.run.dry_run else int(time.time()),
            "frozen": frozen,
        }

    def acquire(self, *, version: str | None, reason: str) -> None:
        """Take the deploy lock or raise DeployLocked (exit 3) naming the holder and how to release it."""
        info = json.dumps(self.lock_info(version=version, reason=reason), sort_keys=True)
        result = self.run.executor.run(self.host, lock_commands.acquire(self.directory, info), check=False)
        if result.ok:
            return
        if result.exit_code != 1:
            raise OperationFailed(f"could not take the deploy lock: {result.describe()}")
        raise DeployLocked(describe_holder(result.stdout, self.run.env.name))

    def freeze(self, *, reason: str) -> None:
        """Replace any lock with a frozen one (emergency): deploys stay refused until deploy.unlock."""
        info = json.dumps(self.lock_info(version=None, reason=reason, frozen=True), sort_keys=True)
        self.run.executor.run(self.host, lock_commands.force_acquire(self.directory, info), what="freeze deploys")

    def holder(self) -> dict[str, Any] | None:
        read = lock_commands.read(self.directory)
        text = self.run.executor.run(self.host, read, assume="", what="read the deploy lock").stdout
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return {"reason": "unreadable lock file", "raw": text.strip()[:200]}

    def still_held(self) -> bool:
        if self.run.dry_run:
            return True
        holder = self.holder()
        return bool(holder) and holder.get("run_id") == self.run.run_id

    def release(self) -> None:
        run_id = self.run.identity()["run_id"]
        self.run.executor.run(self.host, lock_commands.release(self.directory, run_id), what="release the deploy lock")

    def force_release(self) -> None:
        self.run.executor.run(self.host, lock_commands.force_release(self.directory), what="remove the deploy lock")


def describe_holder(text: str, env_name: str) -> str:
    try:
        holder = json.loads(text)
    except ValueError:
        holder = {}
    if holder.get("frozen"):
        what = f"deploys to {env_name} are frozen (emergency rollback)"
    else:
        what = f"{env_name} is locked by another deploy"
    who = f"{holder.get('user', '?')}@{holder.get('origin', '?')}"
    age = _age(holder.get("since_epoch"))
    return (
        f"{what}: {holder.get('task', '?')} {holder.get('version') or ''} by {who}, run {holder.get('run_id', '?')}, "
        f"since {holder.get('since', '?')}{age}, reason: {holder.get('reason', '?')}. "
        f"If that run is gone: inv deploy.unlock --env {env_name} --force"
    ).replace("  ", " ")


def _age(epoch: Any) -> str:
    if not isinstance(epoch, int) or epoch <= 0:
        return ""
    seconds = max(0, int(time.time()) - epoch)
    return f" ({seconds // 60} min {seconds % 60} s ago)"


def _describe(state: DeployState) -> str:
    parts = [f"active {state.active}"]
    for color in COLORS:
        info = state.colors[color]
        parts.append(f"{color} {info.version or 'empty'}")
    return ", ".join(parts)
