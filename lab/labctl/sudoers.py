"""The LB's sudoers drop-in, as ghosttasks generates it for the lab's inventory.

`python3 -m ghosttasks.commands.sudoers` writes it.

The lab does not write its own rules: it installs exactly what the tool says it runs with sudo -n, so a
command the tool runs but the drop-in does not allow fails the lab tests, as it would on a real LB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab.labctl.errors import LabError
from lab.labctl.paths import REPO


def drop_in(inventory: Path, environment: str = "prod") -> str:
    """The drop-in's text for the LB of `environment` in `inventory`."""
    env = {**os.environ, "GHOST_INVENTORY": str(inventory)}
    argv = [sys.executable, "-m", "ghosttasks.commands.sudoers", "--env", environment]
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0 or "NOPASSWD" not in result.stdout:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise LabError(f"sudoers: python3 -m ghosttasks.commands.sudoers exited {result.returncode}: {lines[-1][:300]}")
    return result.stdout
