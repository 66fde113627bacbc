"""The worker stop and start commands (ghosttasks.commands.workers) against a real Docker engine and Compose: a
worker that exits on its signal is reported stopped (exit 0), one that ignores it is killed after its timeout
(exit 137) and said so, a restart policy does not bring a stopped worker back, and a start brings it up again."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from ghosttasks.commands import workers
from ghosttasks.commands.compose import Project
from tests.lab.world import docker

HOST = "app1"
#: Exits 0 on SIGTERM after finishing its "job"; PID 1 python ignores SIGTERM unless it installs a handler.
POLITE = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(3600)"
STUBBORN = "import time; time.sleep(3600)"  # PID 1 without a handler: SIGTERM does nothing
COMPOSE = f"""
services:
  polite:
    image: ghostlab-base:latest
    network_mode: none
    restart: unless-stopped
    command: ["python3", "-c", "{POLITE}"]
  stubborn:
    image: ghostlab-base:latest
    network_mode: none
    restart: always
    command: ["python3", "-c", "{STUBBORN}"]
"""


@pytest.fixture(scope="module")
def project(lab, tmp_path_factory):
    directory = tmp_path_factory.mktemp("worker-stop")
    (directory / "compose.yml").write_text(COMPOSE)
    project = Project(str(directory), "ghostlab-workerstop", ("compose.yml",))
    yield project
    subprocess.run(
        ["bash", "-c", f"{project.prefix()} down --timeout 0"],
        env={**os.environ, **lab.docker_env(HOST)},
        capture_output=True,
        timeout=120,
        check=False,
    )


def shell(lab, command: str) -> subprocess.CompletedProcess:
    """The command as a remote shell runs it, against the lab host's engine."""
    env = {**os.environ, **lab.docker_env(HOST)}
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=180, check=False)


def running(lab, service: str) -> list[str]:
    return docker(lab, HOST, "ps", "-q", "--filter", f"label=com.docker.compose.service={service}").stdout.split()


def test_stop_says_stopped_or_killed_and_start_brings_the_worker_back(lab, project):
    up = shell(lab, workers.start(project, ["polite", "stubborn"]))
    assert up.returncode == 0, up.stderr
    assert running(lab, "polite") and running(lab, "stubborn")

    polite = shell(lab, workers.stop(project, "polite", "SIGTERM", 10))
    assert polite.returncode == 0, polite.stderr
    outcome = workers.parse_stop(polite.stdout)
    assert (outcome.how, list(outcome.exits.values())) == ("stopped", [0])

    started = time.monotonic()
    stubborn = shell(lab, workers.stop(project, "stubborn", "SIGTERM", 2))
    took = time.monotonic() - started
    assert stubborn.returncode == 0, stubborn.stderr
    outcome = workers.parse_stop(stubborn.stdout)
    assert (outcome.how, list(outcome.exits.values())) == ("killed", [137])
    assert outcome.describe("stubborn", "SIGTERM", 2) == "stubborn killed: no exit within 2 s of SIGTERM (exit 137)"
    assert 2 <= took < 15

    time.sleep(2)  # a restart policy would have brought them back by now
    assert running(lab, "polite") == [] and running(lab, "stubborn") == []
    again = shell(lab, workers.stop(project, "polite", "SIGTERM", 10))
    assert workers.parse_stop(again.stdout).how == "not-running"

    back = shell(lab, workers.start(project, ["polite"]))
    assert back.returncode == 0, back.stderr
    assert running(lab, "polite")
