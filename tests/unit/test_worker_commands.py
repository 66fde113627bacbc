"""The worker stop and start commands (ghosttasks.commands.workers) pinned by exact output, and the stop's parser."""

import subprocess

import pytest

from ghosttasks.commands import workers
from ghosttasks.commands.compose import Project

PROJECT = Project("/srv/rel/v1.1.0", "ghostworks-blue", ("docker-compose.yml", "docker-compose.blue.yml"), "v1.1.0")
PREFIX = (
    "cd /srv/rel/v1.1.0 && APP_VERSION=v1.1.0 docker compose -p ghostworks-blue "
    "-f docker-compose.yml -f docker-compose.blue.yml"
)


def test_stop_sends_the_signal_waits_the_timeout_then_kills_and_says_which():
    assert workers.stop(PROJECT, "worker", "SIGQUIT", 90) == (
        "ids=$(docker ps -q --filter label=com.docker.compose.project=ghostworks-blue "
        "--filter label=com.docker.compose.service=worker --filter label=com.docker.compose.oneoff=False) && "
        'if [ -z "$ids" ]; then echo not-running; '
        "else docker kill -s SIGQUIT $ids > /dev/null; "
        "if timeout 90 docker wait $ids > /dev/null; then echo stopped; "
        "else docker kill -s SIGKILL $ids > /dev/null 2>&1; timeout 5 docker wait $ids > /dev/null; echo killed; fi "
        "&& docker inspect --format '{{.Name}} {{.State.ExitCode}}' $ids; fi"
    )


def test_stop_is_valid_shell_and_quotes_hostile_values():
    command = workers.stop(Project("/srv/x; rm", "p$(id)", ("a b.yml",)), "w;reboot", "SIGTERM", 3)
    assert (
        "--filter 'label=com.docker.compose.project=p$(id)' --filter 'label=com.docker.compose.service=w;reboot'"
        in command
    )
    assert subprocess.run(["bash", "-n", "-c", command], check=False).returncode == 0


def test_start_is_compose_up_of_the_workers_only():
    assert workers.start(PROJECT, ["worker", "scheduler"]) == f"{PREFIX} up -d --no-deps worker scheduler"


@pytest.mark.parametrize(
    ("text", "how", "exits", "said"),
    [
        ("not-running\n", "not-running", {}, "worker was not running"),
        (
            "stopped\n/ghostworks-blue-worker-1 0\n",
            "stopped",
            {"ghostworks-blue-worker-1": 0},
            "worker stopped on SIGTERM (exit 0)",
        ),
        (
            "killed\n/ghostworks-blue-worker-1 137\n/ghostworks-blue-worker-2 137\n",
            "killed",
            {"ghostworks-blue-worker-1": 137, "ghostworks-blue-worker-2": 137},
            "worker killed: no exit within 30 s of SIGTERM (exit 137, 137)",
        ),
    ],
)
def test_parse_stop(text, how, exits, said):
    outcome = workers.parse_stop(text)
    assert outcome.how == how and outcome.exits == exits
    assert outcome.describe("worker", "SIGTERM", 30) == said


@pytest.mark.parametrize("text", ["", "Error response from daemon\n", "stopped\nno-code-here\n"])
def test_parse_stop_refuses_what_stop_does_not_print(text):
    with pytest.raises(ValueError, match="unexpected worker stop output"):
        workers.parse_stop(text)


def test_stop_fact_assumes_a_graceful_stop_in_a_dry_run():
    fact = workers.stop_fact(PROJECT, "worker", "SIGTERM", 30)
    assert fact.what == "stop worker (SIGTERM, 30 s, then kill)"
    assert fact.command == workers.stop(PROJECT, "worker", "SIGTERM", 30)
    assert workers.parse_stop(fact.assumed).how == "stopped"
