"""Lab fixtures: the lab comes up once per test session and goes down at the end, even on failure.

Two topologies share the lab root, one up at a time (lab/labctl/hosts.py): `lab` is the flat one (every host
on 127.0.0.x, lab/hosts.yml), `bastion_lab` the one behind a bastion (lab/hosts-bastion.yml). A module asks
for the one it needs; the session switches with lab.down + lab.up only when the other one is up, so the
flat modules (test_05..56) share one lab and the bastion module (test_60) brings its own up after them.
A module that needs a starting state brings the lab to it (world.bring_to), whatever the modules before it
did; test_10 needs a lab nothing was ever deployed to, and asks for `fresh_lab` (down and up again when something
was); test_64 needs prod undeployed but not new engines, and asks for `undeployed_lab` (world.forget_prod_deploys:
seconds, and its first deploy finds the images and the registry the modules before it filled).
`inv` runs against the flat inventory, `bastion_inv` against the bastion one, both through the `ghost` command
(pyproject.toml [project.scripts]: the namespace bundled, no tasks.py lookup; it starts faster than
`python -m invoke`, which the lab suite pays a few hundred times).

Set GHOSTLAB_KEEP=1 to leave the last topology running after the session (for iterating on one test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab.world import LoadLoop

ROOT = Path(__file__).resolve().parents[2]
#: `ghost`, the console script `pip install -e .` puts next to this interpreter (make install).
GHOST = Path(sys.executable).with_name("ghost")


def ghost_command(*args: str) -> list[str]:
    """The argv of `ghost ARGS` as an operator types it (the checkout's code: see Inv.environment)."""
    if not GHOST.exists():
        raise RuntimeError(f"{GHOST} is missing: install the checkout first (make install)")
    return [str(GHOST), *args]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.lab)
    # the bastion topology's modules run after every flat one, whatever their numbers: one switch, not two
    items.sort(key=lambda item: "bastion_lab" in getattr(item, "fixturenames", ()))


class Labs:
    """The session's lab: which topology is up, switched (down, then up) when a module needs the other one."""

    def __init__(self) -> None:
        self.current: str | None = None

    def ensure(self, topology: str):
        """The Layout of the lab with `topology` up (brought up, or switched to, when it is not)."""
        from lab import labctl

        if self.current != topology:
            found = labctl.current_topology()
            if found is not None and found.name != topology:
                labctl.down(quiet=True)
            self.current = None
            labctl.up(quiet=True, topology=topology)
            self.current = topology
        return labctl.layout()

    def fresh(self, topology: str):
        """The Layout of the lab with `topology` up and nothing deployed to prod yet (down and up when there was)."""
        from lab import labctl

        layout = self.ensure(topology)
        if (layout.lb_state_dir / "state.json").exists() or any(layout.releases_dir("app1").glob("*")):
            labctl.down(quiet=True)
            self.current = None
            layout = self.ensure(topology)
        return layout


@pytest.fixture(scope="session")
def labs():
    from lab import labctl

    try:
        yield Labs()
    finally:
        if not os.environ.get("GHOSTLAB_KEEP"):
            labctl.down(quiet=True)


@pytest.fixture(scope="module")
def lab(labs):
    """The flat lab (lab/hosts.yml), up for the whole module."""
    return labs.ensure("flat")


@pytest.fixture(scope="module")
def fresh_lab(labs):
    """The flat lab with nothing deployed to prod: brought down and up again first when something was."""
    return labs.fresh("flat")


@pytest.fixture(scope="module")
def undeployed_lab(labs):
    """The flat lab with prod as lab.up leaves it before a first deploy, the images and the registry kept."""
    from tests.lab.world import forget_prod_deploys

    layout = labs.ensure("flat")
    forget_prod_deploys(layout)
    return layout


@pytest.fixture(scope="module")
def bastion_lab(labs):
    """The bastion topology (lab/hosts-bastion.yml), up for the whole module."""
    return labs.ensure("bastion")


@dataclass
class Inv:
    """Runs the real command line (`ghost`) against the lab inventory, as an on-call engineer would."""

    log_dir: Path
    inventory: Path = ROOT / "lab" / "hosts.yml"

    def environment(self, env: dict | None = None) -> dict:
        base = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        # the code under test is this checkout's, whichever checkout `pip install -e` last pointed `ghost` at
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
        # bytecode written once and reused: without it every invocation compiles ghosttasks again (~0.3 s here)
        return {**base, "GHOST_INVENTORY": str(self.inventory), "GHOST_LOG_DIR": str(self.log_dir), **(env or {})}

    def __call__(self, *args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.together(args, timeout=timeout, env=env)[0]

    def together(
        self, *commands: tuple[str, ...], timeout: float = 900, env: dict | None = None
    ) -> list[subprocess.CompletedProcess]:
        """Run `inv ARGS` for each of `commands` at once (independent ones: read-only checks, refusals); their
        results in the order given, each printed as a lone command's is."""
        started = [
            (
                args,
                subprocess.Popen(
                    ghost_command(*args),
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=self.environment(env),
                    stdin=subprocess.DEVNULL,
                ),
            )
            for args in commands
        ]
        results = []
        for args, process in started:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                for _, other in started:
                    other.kill()
                raise
            result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
            print(f"$ inv {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
            results.append(result)
        return results

    def background(
        self, *args: str, env: dict | None = None, merge_stderr: bool = False, ignore_sigint: bool = False
    ) -> subprocess.Popen:
        """`inv ARGS` running in the background, its output unbuffered on pipes (stderr into stdout with
        merge_stderr). With ignore_sigint it starts as a background job of a non-interactive shell would (SIGINT
        inherited ignored), whatever the way pytest itself was started."""
        return subprocess.Popen(
            ghost_command(*args),
            cwd=ROOT,
            env=self.environment({"PYTHONUNBUFFERED": "1", **(env or {})}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
        )

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def all_ok(self, *commands: tuple[str, ...], **kwargs) -> list[subprocess.CompletedProcess]:
        """`together`, each command required to succeed."""
        results = self.together(*commands, **kwargs)
        for args, result in zip(commands, results, strict=True):
            assert result.returncode == 0, f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return results

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture(scope="module")
def inv(lab, tmp_path_factory):
    return Inv(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def bastion_inv(bastion_lab, tmp_path_factory):
    from lab import labctl

    return Inv(tmp_path_factory.mktemp("bastion-runs"), labctl.inventory_path(labctl.BASTION))


@pytest.fixture
def load_loop():
    return LoadLoop
