"""Workers follow the traffic, and no job is lost or run twice: the demo's queue (lab/app/ghostworks/jobs.py)
under a deploy, a rollback and an emergency rollback, then a worker whose job outlives its stop timeout.

Oracles are the world: the jobs table in PostgreSQL (each job id once, UNIQUE), the Redis lists and the
worker's duplicate counter read with redis-cli in the Redis container, and `docker ps` on every app host
sampled in a background thread (never two colours' consumers, never two schedulers, at any sampled moment).
The jobs are sent through the LB at a steady rate while the three commands run one after the other, and go on
at that rate until at least 1,000 are sent.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.lab.walk_model import other
from tests.lab.world import Start, bring_to, docker, psql

LB_JOBS = "http://127.0.0.10/api/v1/jobs"
JOBS = 1000  # at least: the producer goes on at RATE until the three commands are over too
RATE = 40.0  # jobs per second: 1,000 in 25 s, about as long as the three commands take in the lab (25-35 s)
ROOT = Path(__file__).resolve().parents[2]
APP_HOSTS = ("app1", "app2")
REDIS = ("exec", "ghostworks-redis-1", "redis-cli", "-h", "127.0.0.13")
WORKER_SERVICES = {"worker", "scheduler"}


def redis(lab, *args: str) -> str:
    return docker(lab, "db", *REDIS, *args).stdout.strip()


def queue_left(lab) -> dict[str, int]:
    """The queue's and every in-flight list's length, from Redis itself."""
    keys = ["ghostworks:jobs", *redis(lab, "--scan", "--pattern", "ghostworks:jobs:processing:*").split()]
    return {key: int(redis(lab, "llen", key)) for key in keys}


def duplicates(lab) -> int:
    return int(redis(lab, "get", "ghostworks:jobs:duplicates") or 0)


def workers_on(lab, host: str) -> list[tuple[str, str]]:
    """(colour, service) of every prod worker container docker runs on the host now (app1's engine also runs the dev
    environment, project ghostworks-dev, with its own Redis and workers: not prod's)."""
    fmt = '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.service"}}'
    lines = docker(lab, host, "ps", "--filter", "label=com.docker.compose.project", "--format", fmt).stdout.split("\n")
    found = []
    for line in lines:
        project, _, service = line.strip().partition(" ")
        if service in WORKER_SERVICES and project in ("ghostworks-blue", "ghostworks-green"):
            found.append((project.removeprefix("ghostworks-"), service))
    return found


@dataclass
class Sampler:
    """`docker ps` on every app host at once, again and again: every moment two colours' consumers or two
    schedulers ran."""

    lab: object
    samples: int = 0
    overlaps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seen: set = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._pool = ThreadPoolExecutor(len(APP_HOSTS))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                found = list(self._pool.map(lambda host: [(host, *w) for w in workers_on(self.lab, host)], APP_HOSTS))
            except AssertionError as exc:  # docker did not answer: said at the end, never a silent gap
                self.errors.append(str(exc)[:200])
                continue
            running = [w for host in found for w in host]
            self.samples += 1
            self.seen.update((color, service) for _, color, service in running)
            consumers = {color for _, color, service in running if service == "worker"}
            schedulers = [w for w in running if w[2] == "scheduler"]
            if len(consumers) > 1 or len(schedulers) > 1:
                self.overlaps.append(f"{time.strftime('%H:%M:%S')} {sorted(running)}")
            self._stop.wait(0.2)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._pool.shutdown()


@dataclass
class Producer:
    """Jobs through the LB at RATE per second, each with its own id, until JOBS are sent and finish() was called
    (the commands are over); every answer that is not 202 kept."""

    prefix: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=10) as client:
            number = 0
            while number < JOBS or not self._finished.is_set():
                time.sleep(max(0.0, started + number / RATE - time.monotonic()))
                job_id = f"{self.prefix}-{number:04d}"
                try:
                    answer = client.post(LB_JOBS, json={"id": job_id})
                    if answer.status_code != 202:
                        self.failures.append(f"{job_id}: HTTP {answer.status_code} {answer.text[:100]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{job_id}: {type(exc).__name__}: {exc}")
                self.sent += 1
                number += 1

    def start(self) -> Producer:
        self._thread.start()
        return self

    def finish(self, timeout: float) -> None:
        """Send what is left of JOBS, then stop."""
        self._finished.set()
        self._thread.join(timeout=timeout)


def recorded(lab, pattern: str) -> tuple[int, int]:
    """(rows, distinct job ids) of the jobs whose id is LIKE `pattern`, from the jobs table."""
    rows, distinct = psql(
        lab, f"SELECT count(*) || ' ' || count(DISTINCT job_id) FROM jobs WHERE job_id LIKE '{pattern}'"
    ).split()
    return int(rows), int(distinct)


def drain(lab, pattern: str, expected: int, timeout: float = 90) -> dict[str, int]:
    """Wait until `expected` jobs LIKE `pattern` are recorded and the queue and in-flight lists are empty."""
    deadline = time.monotonic() + timeout
    while True:
        left, done = queue_left(lab), recorded(lab, pattern)
        if done[1] >= expected and not any(left.values()):
            return left
        assert time.monotonic() < deadline, f"not drained: recorded {done}, left {left}"
        time.sleep(1)


def handover_seconds(lab) -> dict[str, float]:
    """The last run's handover steps and their seconds, from its line in the LB's history.jsonl."""
    last = json.loads((lab.lb_state_dir / "history.jsonl").read_text().splitlines()[-1])
    return {step["name"]: step["seconds"] for step in last["steps"] if "workers" in step["name"]}


def only_workers_of(lab, color: str) -> bool:
    """docker ps on each app host shows `color`'s workers and no other: its worker on both, its scheduler on app1."""
    return sorted(workers_on(lab, "app1")) == [(color, "scheduler"), (color, "worker")] and workers_on(lab, "app2") == [
        (color, "worker")
    ]


@pytest.fixture(scope="module")
def serving(lab, inv):
    """v1.1.0 serves, on either colour, with only that colour's workers running; the other colour holds whatever it
    holds (the deploy of v1.3.0 goes into it)."""
    color = bring_to(lab, inv, Start("v1.1.0", None, color=None))
    if not only_workers_of(lab, color):
        inv.ok("traffic.switch", color, "--yes")  # hands the workers over: whatever an earlier module left runs no more
    return color


def test_a_thousand_jobs_through_a_deploy_a_rollback_and_an_emergency_each_run_once(lab, inv, serving):
    target = other(serving)  # v1.3.0 goes there; the emergency rollback ends on it
    prefix = f"load-{secrets.token_hex(3)}"
    rejected = duplicates(lab)
    timings = {}
    with Sampler(lab) as sampler:
        producer = Producer(prefix).start()
        started = time.monotonic()
        sent = {}  # jobs sent while each command ran

        def command(name: str, *argv: str) -> str:
            before = producer.sent
            result = inv.ok(*argv)
            sent[name] = producer.sent - before
            timings[name] = handover_seconds(lab)
            return result.stdout + result.stderr

        try:
            deploy = command("deploy", "deploy.prod", "--version", "v1.3.0", "--monitor-minutes", "0", "--yes")
            assert f"workers app1: {target} scheduler, {target} worker" in deploy
            command("rollback", "deploy.rollback", "--yes")
            emergency = command("emergency", "deploy.emergency-rollback", "--reason", "worker drill")
            assert f"workers run: {target}" in emergency, emergency
            inv.ok("deploy.unlock", "--force")
            commands = time.monotonic() - started
        finally:
            producer.finish(timeout=JOBS / RATE + 120)
        left = drain(lab, f"{prefix}-%", producer.sent)
    print(
        f"commands took {commands:.0f} s; {producer.sent} jobs in {time.monotonic() - started:.0f} s, sent during "
        f"each command: {sent}; {sampler.samples} docker ps samples"
    )
    print(f"handover step seconds: {json.dumps(timings)}")
    assert all(count > 0 for count in sent.values()), sent  # the jobs flowed while every command ran
    assert producer.sent >= JOBS and producer.failures == []
    assert recorded(lab, f"{prefix}-%") == (producer.sent, producer.sent)
    assert duplicates(lab) == rejected
    assert not any(left.values())
    assert sampler.overlaps == [], sampler.overlaps[:5]
    assert sampler.errors == [], sampler.errors[:5]
    assert sampler.samples > 50 and {("green", "worker"), ("blue", "worker")} <= sampler.seen
    assert only_workers_of(lab, target)
    scheduled = int(psql(lab, "SELECT count(*) FROM jobs WHERE kind = 'scheduled'"))
    assert scheduled > 0  # the scheduler enqueued its periodic jobs and the workers ran them


def test_verify_workers_sees_what_docker_runs_and_names_a_stray_worker(lab, inv, serving):
    live, stale = other(serving), serving  # after the emergency rollback
    good = inv.ok("verify.workers", "--window", "3")
    assert f"exactly {live}'s workers run, none restarting" in good.stdout + good.stderr
    assert "ghostworks:jobs 0" in good.stdout + good.stderr
    stray = docker(
        lab,
        "app1",
        "ps",
        "-aq",
        "--filter",
        f"label=com.docker.compose.project=ghostworks-{stale}",
        "--filter",
        "label=com.docker.compose.service=worker",
    ).stdout.split()
    assert stray, f"{stale}'s stopped worker container is gone"
    docker(lab, "app1", "start", stray[0])
    try:
        found = inv("verify.workers", "--window", "0")
        assert found.returncode != 0
        assert f"{stale} worker on app1 runs, but {live} serves" in found.stderr
        status = inv.json("deploy.status")
        seen = ", ".join(sorted([f"{live} scheduler", f"{live} worker", f"{stale} worker"]))
        assert f"app1: {seen}" in status["workers"]
    finally:
        docker(lab, "app1", "stop", stray[0])


#: The long job's worker stop timeout (lab/hosts.yml has 5 s) and the job's length, 7 s longer as with the lab's
#: 5 s and a 12 s job: the switch sends SIGTERM 2-5 s after the job started (its handover comes after the flip and
#: the verification), so the job still runs when the timeout ends. Its second run, after the switch, takes as long.
STOP_TIMEOUT = 2
LONG_JOB_SECONDS = STOP_TIMEOUT + 7


def short_stop_timeout(tmp_path) -> dict:
    """lab/hosts.yml with the worker's stop timeout at STOP_TIMEOUT; the env that selects it."""
    data = yaml.safe_load((ROOT / "lab" / "hosts.yml").read_text())
    data["environments"]["prod"]["app"]["workers"]["worker"]["stop_timeout"] = STOP_TIMEOUT
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return {"GHOST_INVENTORY": str(path)}


def test_a_job_longer_than_the_stop_timeout_is_killed_said_and_run_again_once(lab, inv, serving, tmp_path):
    old, new = other(serving), serving  # the emergency rollback left `old` serving; the switch goes back
    job = f"long-{secrets.token_hex(3)}"
    rejected = duplicates(lab)
    answer = httpx.post(LB_JOBS, json={"id": job, "seconds": LONG_JOB_SECONDS}, timeout=10)
    assert answer.status_code == 202
    deadline = time.monotonic() + 20
    while not any(count for key, count in queue_left(lab).items() if ":processing:" in key):
        assert time.monotonic() < deadline, "no worker took the long job"
        time.sleep(0.2)
    switch = inv.ok("traffic.switch", new, "--yes", env=short_stop_timeout(tmp_path))
    said = switch.stdout + switch.stderr
    assert f"{old} worker killed: no exit within {STOP_TIMEOUT} s of SIGTERM (exit 137)" in said, said
    assert recorded(lab, job) == (0, 0)  # killed before it was done: not recorded, not acknowledged
    drain(lab, job, 1, timeout=60)  # redelivered to `new`'s worker on the same host, done in LONG_JOB_SECONDS
    assert recorded(lab, job) == (1, 1)
    assert psql(lab, f"SELECT color FROM jobs WHERE job_id = '{job}'") == new
    assert duplicates(lab) == rejected
