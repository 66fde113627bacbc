"""Workers follow the traffic, and no job is lost or run twice: the demo's queue (lab/app/ghostworks/jobs.py)
under a deploy, a rollback and an emergency rollback, then a worker whose job outlives its stop timeout.

Oracles are the world: the jobs table in PostgreSQL (each job id once, UNIQUE), the Redis lists and the
worker's duplicate counter read with redis-cli in the Redis container, and `docker ps` on every app host
sampled in a background thread (never two colours' consumers, never two schedulers, at any sampled moment).
The jobs are sent through the LB at a steady rate while the three commands run one after the other.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from tests.lab.world import GREEN_V110, bring_to, docker, psql

LB_JOBS = "http://127.0.0.10/api/v1/jobs"
JOBS = 1000
RATE = 20.0  # jobs per second: 50 s of jobs, a little longer than the three commands take (35 s in the lab)
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
    """(colour, service) of every worker container docker runs on the host now."""
    fmt = '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.service"}}'
    lines = docker(lab, host, "ps", "--filter", "label=com.docker.compose.project", "--format", fmt).stdout.split("\n")
    found = []
    for line in lines:
        project, _, service = line.strip().partition(" ")
        if service in WORKER_SERVICES and project.startswith("ghostworks-"):
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
    """JOBS jobs through the LB at RATE per second, each with its own id; every answer that is not 202 kept."""

    prefix: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=10) as client:
            for number in range(JOBS):
                time.sleep(max(0.0, started + number / RATE - time.monotonic()))
                job_id = f"{self.prefix}-{number:04d}"
                try:
                    answer = client.post(LB_JOBS, json={"id": job_id})
                    if answer.status_code != 202:
                        self.failures.append(f"{job_id}: HTTP {answer.status_code} {answer.text[:100]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{job_id}: {type(exc).__name__}: {exc}")
                self.sent += 1

    def start(self) -> Producer:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
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


def handover_seconds(inv) -> dict[str, float]:
    """The last run's handover steps and their seconds, from its history line."""
    last = inv.json("deploy.history", "--limit", "1")[-1]
    return {step["name"]: step["seconds"] for step in last["steps"] if "workers" in step["name"]}


@pytest.fixture(scope="module")
def serving(lab, inv):
    color = bring_to(lab, inv, GREEN_V110)
    inv.ok("traffic.switch", color, "--yes")  # hands the workers over: whatever an earlier module left runs no more
    return color


def test_a_thousand_jobs_through_a_deploy_a_rollback_and_an_emergency_each_run_once(lab, inv, serving):
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
            timings[name] = handover_seconds(inv)
            return result.stdout + result.stderr

        deploy = command("deploy", "deploy.prod", "--version", "v1.3.0", "--monitor-minutes", "0", "--yes")
        assert "workers app1: blue scheduler, blue worker" in deploy
        command("rollback", "deploy.rollback", "--yes")
        emergency = command("emergency", "deploy.emergency-rollback", "--reason", "worker drill")
        assert "workers run: blue" in emergency, emergency
        inv.ok("deploy.unlock", "--force")
        commands = time.monotonic() - started
        producer.join(timeout=JOBS / RATE + 120)
        left = drain(lab, f"{prefix}-%", JOBS)
    print(f"commands took {commands:.0f} s; jobs sent during each: {sent}; {sampler.samples} docker ps samples")
    print(f"handover step seconds: {json.dumps(timings)}")
    assert all(count > 0 for count in sent.values()), sent  # the jobs flowed while every command ran
    assert producer.sent == JOBS and producer.failures == []
    assert recorded(lab, f"{prefix}-%") == (JOBS, JOBS)
    assert duplicates(lab) == rejected
    assert not any(left.values())
    assert sampler.overlaps == [], sampler.overlaps[:5]
    assert sampler.errors == [], sampler.errors[:5]
    assert sampler.samples > 50 and {("green", "worker"), ("blue", "worker")} <= sampler.seen
    assert workers_on(lab, "app2") == [("blue", "worker")]
    assert sorted(workers_on(lab, "app1")) == [("blue", "scheduler"), ("blue", "worker")]
    scheduled = int(psql(lab, "SELECT count(*) FROM jobs WHERE kind = 'scheduled'"))
    assert scheduled > 0  # the scheduler enqueued its periodic jobs and the workers ran them


def test_verify_workers_sees_what_docker_runs_and_names_a_stray_worker(lab, inv):
    good = inv.ok("verify.workers", "--window", "3")
    assert "exactly blue's workers run, none restarting" in good.stdout + good.stderr
    assert "ghostworks:jobs 0" in good.stdout + good.stderr
    stray = docker(
        lab,
        "app1",
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.project=ghostworks-green",
        "--filter",
        "label=com.docker.compose.service=worker",
    ).stdout.split()
    assert stray, "green's stopped worker container is gone"
    docker(lab, "app1", "start", stray[0])
    try:
        found = inv("verify.workers", "--window", "0")
        assert found.returncode != 0
        assert "green worker on app1 runs, but blue serves" in found.stderr
        status = inv.json("deploy.status")
        assert "app1: blue scheduler, blue worker, green worker" in status["workers"]
    finally:
        docker(lab, "app1", "stop", stray[0])


def test_a_job_longer_than_the_stop_timeout_is_killed_said_and_run_again_once(lab, inv):
    job = f"long-{secrets.token_hex(3)}"
    rejected = duplicates(lab)
    answer = httpx.post(LB_JOBS, json={"id": job, "seconds": 12}, timeout=10)
    assert answer.status_code == 202
    deadline = time.monotonic() + 20
    while not any(count for key, count in queue_left(lab).items() if ":processing:" in key):
        assert time.monotonic() < deadline, "no worker took the long job"
        time.sleep(0.2)
    switch = inv.ok("traffic.switch", "green", "--yes")
    said = switch.stdout + switch.stderr
    assert "blue worker killed: no exit within 5 s of SIGTERM (exit 137)" in said, said
    assert recorded(lab, job) == (0, 0)  # killed before it was done: not recorded, not acknowledged
    drain(lab, job, 1, timeout=60)  # redelivered to green's worker on the same host, done in 12 s
    assert recorded(lab, job) == (1, 1)
    assert psql(lab, f"SELECT color FROM jobs WHERE job_id = '{job}'") == "green"
    assert duplicates(lab) == rejected
