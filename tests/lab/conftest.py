"""Lab fixtures: the lab comes up once per test session and goes down at the end, even on failure.

Set GHOSTLAB_KEEP=1 to leave it running after the session (for iterating on one test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lab.world import LoadLoop

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    from lab import labctl

    try:
        labctl.up(quiet=True)
        yield labctl.layout()
    finally:
        if not os.environ.get("GHOSTLAB_KEEP"):
            labctl.down(quiet=True)


@dataclass
class Inv:
    """Runs the real `inv` command line against the lab inventory, as an on-call engineer would."""

    log_dir: Path

    def __call__(self, *args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
        environment = {
            **os.environ,
            "GHOST_INVENTORY": str(ROOT / "lab" / "hosts.yml"),
            "GHOST_LOG_DIR": str(self.log_dir),
            **(env or {}),
        }
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
        print(f"$ inv {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"inv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture(scope="session")
def inv(lab, tmp_path_factory):
    return Inv(tmp_path_factory.mktemp("runs"))


@pytest.fixture
def load_loop():
    return LoadLoop
