"""What verify.workers, deploy.status and the summaries say about running workers: the judgement of docker's
containers (ghosttasks.decisions.workers.judge_workers) over the space of what may run, the container and queue
depth readers pinned by exact output, and verify.workers carried out over scripted answers."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from ghosttasks import testing
from ghosttasks.commands import redis_cli, workers
from ghosttasks.commands.compose import Project
from ghosttasks.commands.facts import Unread
from ghosttasks.decisions.workers import Sighting, Worker, judge_workers, where_they_run
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows.steps.workers import queue_change
from tests.unit.test_worker_flows import _workers_env

CONSUMER = Worker("worker", "consumer", ("app1", "app2"))
SCHEDULER = Worker("scheduler", "singleton", ("app1",))
BOTH = (CONSUMER, SCHEDULER)


def seen(host, color, service, status="running", restarts=0) -> Sighting:
    return Sighting(host, color, service, status, restarts)


BLUE = [seen("app1", "blue", "worker"), seen("app2", "blue", "worker"), seen("app1", "blue", "scheduler")]


def test_exactly_the_serving_colours_workers_is_no_problem():
    assert judge_workers(BOTH, "blue", BLUE, BLUE) == []
    assert where_they_run(["app1", "app2", "app3"], BLUE) == [
        "app1: blue scheduler, blue worker",
        "app2: blue worker",
        "app3: none",
    ]


def test_every_way_of_being_wrong_is_named():
    after = [
        seen("app1", "blue", "worker", restarts=4),
        seen("app1", "green", "worker"),
        seen("app1", "blue", "scheduler"),
        seen("app2", "green", "scheduler", status="restarting", restarts=9),
    ]
    before = [seen("app1", "blue", "worker", restarts=1)]
    assert judge_workers(BOTH, "blue", before, after) == [
        "blue worker on app1 restarted 3 time(s) while watched: a restart loop",
        "green worker on app1 runs, but blue serves",
        "blue worker does not run on app2",
        "green scheduler on app2 runs, but blue serves",
        "green scheduler on app2 is restarting (restart count 9)",
        "scheduler is a singleton but 2 run: blue on app1, green on app2",
    ]
    assert where_they_run(["app2"], after) == ["app2: green scheduler (restarting)"]


def test_nothing_serving_wants_no_worker_running():
    assert judge_workers(BOTH, None, [], []) == []
    assert judge_workers((SCHEDULER,), None, [], [seen("app1", "blue", "scheduler")]) == [
        "blue scheduler on app1 runs, but no colour serves"
    ]


def _every_world():
    spots = [(host, color, worker.name) for worker in BOTH for host in ("app1", "app2") for color in ("blue", "green")]
    for mask in itertools.product((False, True), repeat=len(spots)):
        yield [seen(*spot) for spot, on in zip(spots, mask, strict=True) if on]


@pytest.mark.parametrize("serving", ["blue", "green", None])
def test_over_every_set_of_running_workers_no_problem_means_exactly_the_serving_colours(serving):
    for world in _every_world():
        problems = judge_workers(BOTH, serving, world, world)
        expected = (
            sorted((s.host, s.service) for s in world if s.color == serving)
            == [("app1", "scheduler"), ("app1", "worker"), ("app2", "worker")]
            and all(s.color == serving for s in world)
            if serving
            else not world
        )
        assert (problems == []) == expected, (serving, world, problems)
        schedulers = [s for s in world if s.service == "scheduler"]
        if len(schedulers) > 1:
            assert any("singleton" in problem for problem in problems)


def test_a_grown_restart_count_is_a_loop_and_a_new_container_is_not():
    before = [seen("app1", "blue", "worker", restarts=2)]
    after = [seen("app1", "blue", "worker", restarts=2), seen("app2", "blue", "worker", restarts=5)]
    assert judge_workers((CONSUMER,), "blue", before, after) == []


def test_the_container_reader_is_one_docker_command_and_parses_its_lines():
    command = workers.containers()
    assert command == (
        "docker ps -q --filter label=com.docker.compose.project | xargs -r docker inspect --format "
        '\'{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels '
        '"com.docker.compose.service"}} {{.State.Status}} {{.RestartCount}}\''
    )
    assert subprocess.run(["bash", "-n", "-c", command], check=False).returncode == 0
    assert workers.parse_containers("ghostworks-blue worker running 0\n\nghostworks worker restarting 12\n") == [
        workers.Container("ghostworks-blue", "worker", "running", 0),
        workers.Container("ghostworks", "worker", "restarting", 12),
    ]
    with pytest.raises(ValueError, match="unexpected container line"):
        workers.parse_containers("Cannot connect to the Docker daemon\n")


class _Answer:
    def __init__(self, stdout, exit_code=0, stderr=""):
        self.host, self.stdout, self.stderr, self.exit_code, self.hint = "db1", stdout, stderr, exit_code, None

    @property
    def ok(self):
        return self.exit_code == 0

    def describe(self):
        return f"[db1] exit {self.exit_code}: {self.stderr.strip()}"


def test_the_queue_depth_is_read_by_redis_cli_in_the_redis_service():
    project = Project("/srv/ghostworks", "ghostworks", ("docker-compose.yml",))
    fact = redis_cli.queue_depth(project, service="redis", keys=["jobs", "jobs:processing:*"], address="10.0.0.5")
    assert fact.command.startswith(
        "c=$(docker ps -q --filter label=com.docker.compose.project=ghostworks --filter "
        "label=com.docker.compose.service=redis --filter label=com.docker.compose.oneoff=False | head -n 1); "
        "if [ -z \"$c\" ]; then echo 'service redis is not running in compose project ghostworks' >&2; exit 1; fi; "
        "docker exec -e 'A=-h 10.0.0.5' \"$c\" sh -c "
    )
    assert fact.command.endswith(" sh jobs 'jobs:processing:*'")
    assert subprocess.run(["bash", "-n", "-c", fact.command], check=False).returncode == 0
    answer = _Answer("jobs list 12\njobs:processing:10.0.0.1 list 1\njobs:processing:* none 0\n")
    assert fact.parse(answer) == {"jobs": 12, "jobs:processing:10.0.0.1": 1, "jobs:processing:*": 0}
    refused = fact.parse(_Answer("", 3, "Could not connect to Redis at 127.0.0.1:6379: Connection refused"))
    assert isinstance(refused, Unread) and "Connection refused" in refused.reason
    noauth = fact.parse(_Answer("jobs NOAUTH Authentication required. ?\n"))
    assert isinstance(noauth, Unread) and "NOAUTH" in noauth.reason


def test_the_queue_depth_script_runs_against_a_stand_in_redis_cli(tmp_path):
    fake = tmp_path / "redis-cli"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *--scan*) echo "jobs:processing:a"; echo "jobs:processing:b";;\n'
        '  *"type jobs") echo list;;\n'
        '  *"type jobs:processing:a") echo list;;\n'
        '  *"type jobs:processing:b") echo none;;\n'
        '  *"llen jobs") echo 7;;\n'
        '  *"llen jobs:processing:a") echo 1;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    project = Project("/x", "p", ("c.yml",))
    fact = redis_cli.queue_depth(project, service="redis", keys=["jobs", "jobs:processing:*"])
    script = fact.command.split(" sh -c ", 1)[1]
    result = subprocess.run(
        f"PATH={tmp_path}:$PATH sh -c {script}", shell=True, capture_output=True, text=True, check=False
    )
    assert result.stdout == "jobs list 7\njobs:processing:a list 1\njobs:processing:b none 0\n", result.stderr


def test_the_queue_change_names_each_key_before_and_after():
    assert queue_change({"jobs": 12, "p": 1}, {"jobs": 0, "p": 0}) == "jobs 12 → 0, p 1 → 0"
    assert queue_change(None, {"jobs": 3}) == "jobs ? → 3"
    assert queue_change(None, None) is None


def _verify(tmp_path, containers: dict[str, list[str]], depth="ghostworks:jobs list 4\n"):
    from ghosttasks.flows.checks import workers as verify_workers

    executor = testing.ScriptedExecutor(_workers_env(tmp_path), unscripted="assume")
    executor.on("ghostworks-active", "green\n")
    for host, lines in containers.items():
        executor.on("docker inspect", "".join(f"{line}\n" for line in lines), host=host)
    executor.on("--scan --pattern", depth)
    run = testing.a_run(executor, task="verify.workers")
    return run, lambda: verify_workers(run, 0)


def test_verify_workers_passes_when_exactly_the_serving_colours_run(tmp_path):
    run, verify = _verify(
        tmp_path,
        {
            "app1": [
                "ghostworks-green worker running 0",
                "ghostworks-green scheduler running 0",
                "ghostworks redis x 0",
            ],
            "app2": ["ghostworks-green worker running 0"],
        },
    )
    verify()
    printed = run.out.printed
    assert "workers app1: green scheduler, green worker" in printed
    assert "queue depth: ghostworks:jobs 4" in printed
    assert "exactly green's workers run, none restarting (restarts not watched: window 0)" in printed


def test_verify_workers_fails_naming_the_other_colours_worker(tmp_path):
    _, verify = _verify(
        tmp_path,
        {
            "app1": [
                "ghostworks-green worker running 0",
                "ghostworks-green scheduler running 0",
                "ghostworks-blue worker running 0",
            ],
            "app2": ["ghostworks-green worker running 0"],
        },
    )
    with pytest.raises(OperationFailed, match="blue worker on app1 runs, but green serves"):
        verify()


def test_verify_images_checks_a_worker_only_where_it_runs(tmp_path):
    from ghosttasks.domain.deploy_state import ColorState, DeployState
    from ghosttasks.flows.steps.build_once import check_running

    pinned = {service: f"reg/ghostworks-{service}@sha256:{service}" for service in ("api", "worker", "scheduler")}
    executor = testing.ScriptedExecutor(_workers_env(tmp_path))
    executor.on("service=api ", f'["{pinned["api"]}"]\n')
    executor.on("service=worker ", '["reg/ghostworks-worker@sha256:other"]\n', host="app1")
    executor.on("service=", "", "no running container", 3)
    run = testing.a_run(executor, task="verify.images")
    state = DeployState(active="blue", colors={"blue": ColorState("v1.0.0", images=pinned), "green": ColorState()})
    assert check_running(run, state) == [
        "app1 blue worker: runs reg/ghostworks-worker@sha256:other, not reg/ghostworks-worker@sha256:worker"
    ]
