"""Folding noisy commands: which commands fold, what a host's status line says, and through the real
executor (fabric.testing's MockRemote): nothing on the screen, every line in the run log, the last 30
lines under the error, and --verbose streaming as before."""

import json

import pytest
from fabric.testing.base import Command

from ghosttasks.commands import compose, git
from ghosttasks.commands.compose import Project
from ghosttasks.domain.errors import CommandFailed
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.terminal.folding import failure_tails, noisy_phase, status_of
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.runlog import RunLog
from ghosttasks.terminal.step_events import StepFeed
from tests.unit.test_executor import env, host, remote, session  # noqa: F401 (fixtures)

PROJECT = Project(
    "/srv/ghostworks/releases/v1.1.0", "ghostworks-green", ("compose.yml", "compose.colors.yml"), "v1.1.0"
)


@pytest.mark.parametrize(
    ("command", "phase"),
    [
        (compose.build(PROJECT, ["api", "worker"]), "build"),
        (compose.up(PROJECT, ["api"], recreate=True), "up"),
        (compose.up(PROJECT), "up"),
        (f"{PROJECT.prefix()} pull api", "pull"),
        ("docker compose --project-name x --file a.yml --progress plain build", "build"),
        ("docker build -t registry.internal/ghostworks/api:v1.1.0 .", "build"),
        ("docker buildx build --push -t r/api:v1 .", "build"),
        ("docker pull registry.internal/ghostworks/api@sha256:0123", "pull"),
        ("docker push registry.internal/ghostworks/api:v1.1.0", "push"),
        (compose.ps(PROJECT), None),
        (compose.logs(PROJECT, "api"), None),
        (compose.run_rm(PROJECT, "api", ["alembic", "upgrade", "head"]), None),
        (compose.exec_(PROJECT, "api", ["echo", "docker build"]), None),
        (compose.versions(), None),
        (git.fetch_tags("/srv/ghostworks/app"), None),
        ("echo 'unbalanced", None),
    ],
)
def test_noisy_phase_is_decided_from_the_command(command, phase):
    assert noisy_phase(command) == phase


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("#8 [api 3/6] RUN pip install -r requirements.txt", "[api 3/6] RUN pip install -r requirements.txt"),
        ("#12 DONE 0.4s", "DONE 0.4s"),
        (" Container ghostworks-green-api-1  Started", "Container ghostworks-green-api-1 Started"),
        ("\x1b[32m✔\x1b[0m Network ghostworks_default  Created\r", "✔ Network ghostworks_default Created"),
        ("   ", None),
    ],
)
def test_status_of_a_progress_line(line, status):
    assert status_of(line) == status


BUILD_OUTPUT = "".join(f"#{n} [api {n}/40] RUN step {n}\n" for n in range(1, 41))


def folded_run(env, remote, tmp_path, *, exit_code=0, verbose=False):  # noqa: F811
    command = compose.build(PROJECT, ["api"])
    remote.expect_sessions(session(env, "app1", Command(command, err=BUILD_OUTPUT.encode(), exit=exit_code)))
    remote.start()
    log = RunLog("deploy.prod", "cafe0001", tmp_path)
    executor = SSHExecutor(env, Output(), log)
    executor.verbose = verbose
    executor.feed = StepFeed(clock=lambda: 7.0)
    seen = []
    executor.feed.subscribe(seen.append)
    try:
        executor.run_parallel([host(env, "app1")], command, stream=True, what="build v1.1.0 images")
        error = None
    except CommandFailed as exc:
        error = exc
    executor.close()
    log.close()
    events = [json.loads(line) for line in log.path.read_text().splitlines()]
    return seen, events, error


def test_a_folded_build_prints_nothing_and_the_run_log_holds_every_line(env, remote, tmp_path, capsys):  # noqa: F811
    seen, events, error = folded_run(env, remote, tmp_path)
    assert error is None
    assert capsys.readouterr().out == ""
    output = [event for event in events if event["event"] == "output"]
    assert [event["line"] for event in output] == BUILD_OUTPUT.splitlines()
    assert {(event["host"], event["stream"]) for event in output} == {("app1", "stderr")}
    assert [(event.kind, event.text) for event in seen if event.kind != "host_line"] == [
        ("host_start", "build"),
        ("host_finish", "40 lines in the run log"),
    ]
    assert [event.text for event in seen if event.kind == "host_line"][-1] == "[api 40/40] RUN step 40"


def test_a_failed_folded_build_shows_its_last_30_lines_under_the_error(env, remote, tmp_path):  # noqa: F811
    _, _, error = folded_run(env, remote, tmp_path, exit_code=1)
    assert error is not None
    (result,) = error.results
    assert result.tail == tuple(BUILD_OUTPUT.splitlines()[-30:])
    assert failure_tails(error) == [
        "last 30 lines of app1's output:",
        *(f"  #{n} [api {n}/40] RUN step {n}" for n in range(11, 41)),
    ]


def test_verbose_streams_the_build_as_before_and_folds_nothing(env, remote, tmp_path, capsys):  # noqa: F811
    seen, events, _ = folded_run(env, remote, tmp_path, verbose=True)
    out = capsys.readouterr().out
    assert "[app1] #1 [api 1/40] RUN step 1" in out and "[app1] #40 [api 40/40] RUN step 40" in out
    assert seen == []
    assert not [event for event in events if event["event"] == "output"]


def test_errors_that_are_not_folded_commands_have_no_tail():
    assert failure_tails(CommandFailed("x failed")) == []
    assert failure_tails(ValueError("x")) == []
