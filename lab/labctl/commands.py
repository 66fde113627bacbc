"""Running this machine's commands for the lab: the system PATH, one-line errors, the Docker CLI per engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lab.labctl.errors import LabError
from lab.labctl.paths import Layout

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def system_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment with the system PATH (no pyenv, no virtualenv), plus `extra`."""
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    return env | (extra or {})


def run(step: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout=300):
    """Run a command; a failure raises LabError naming the step and the command's last error line."""
    try:
        result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise LabError(f"{step}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{step}: {Path(argv[0]).name} timed out after {timeout} s") from None
    if result.returncode != 0:
        raise LabError(f"{step}: {Path(argv[0]).name} exited {result.returncode}: {_last_line(result)}")
    return result


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def docker_cli(lay: Layout, host: str) -> tuple[str, dict[str, str]]:
    """The docker CLI and an environment that talks to a host's engine."""
    docker = shutil.which("docker", path=SYSTEM_PATH)
    if docker is None:
        raise LabError("docker: no docker CLI on PATH (apt-get install docker.io)")
    return docker, system_env(lay.docker_env(host))
