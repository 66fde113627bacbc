"""Post-switch monitoring with the runbook's automatic rollback triggers.

Every interval: error rate and p95 of the active colour from Prometheus (or, when Prometheus is
unreachable, from a sample of requests through the LB), and one health check through the LB.
Triggers (hosts.yml thresholds, the runbook's defaults): error rate > 10%, p95 > 2 s,
more than 3 consecutive failed health checks, database connection failures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ghosttasks import notify, probes
from ghosttasks.flows import common
from ghosttasks.run import Run
from ghosttasks.state import DeployState, Store


@dataclass(frozen=True)
class Trigger:
    name: str
    measured: str
    threshold: str

    def describe(self) -> str:
        return f"{self.name} {self.measured} (threshold {self.threshold})"


@dataclass
class Reading:
    error_rate: float | None = None
    p95: float | None = None
    healthy: bool = True
    database_ok: bool = True
    source: str = "prometheus"
    detail: str = ""

    def line(self) -> str:
        rate = "n/a" if self.error_rate is None else f"{self.error_rate:.1%}"
        p95 = "n/a" if self.p95 is None else f"{self.p95:.2f} s"
        health = "ok" if self.healthy else f"FAILED ({self.detail})"
        return f"error rate {rate}, p95 {p95} ({self.source}), health {health}"


class Watcher:
    """Evaluates readings against the thresholds; keeps the consecutive health failure count."""

    def __init__(self, run: Run, color: str) -> None:
        self.run, self.color = run, color
        self.consecutive_failures = 0
        self.prometheus_down_said = False

    def read(self) -> Reading:
        env = self.run.env
        reading = Reading()
        prometheus = env.monitoring.prometheus_url
        window = env.monitoring.rate_window
        try:
            if not prometheus:
                raise OSError("no monitoring.prometheus_url")
            reading.error_rate = probes.prometheus_query(prometheus, probes.error_rate_query(self.color, window))
            reading.p95 = probes.prometheus_query(prometheus, probes.p95_query(self.color, window))
        except Exception as exc:  # any failure of the monitoring stack means: fall back, say so
            if not self.prometheus_down_said:
                self.run.out.warn(f"Prometheus unavailable ({exc}); measuring through the LB instead")
                self.prometheus_down_said = True
            reading.source = "LB sample"
            reading.error_rate, reading.p95 = self._sample_lb()
        assert env.lb is not None
        health = probes.check_health(env.lb.public_url.rstrip("/") + env.app.health_paths["api"])
        reading.healthy = health.ok
        reading.detail = health.error or ""
        checks = health.body.get("checks", {}) if isinstance(health.body.get("checks"), dict) else {}
        reading.database_ok = checks.get("database", "ok") == "ok" and "database" not in (health.error or "")
        return reading

    def _sample_lb(self) -> tuple[float | None, float | None]:
        import httpx

        assert self.run.env.lb is not None
        url = self.run.env.lb.public_url.rstrip("/") + self.run.env.app.health_paths["api"]
        durations, errors = [], 0
        with httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for _ in range(10):
                started = time.monotonic()
                try:
                    errors += client.get(url).status_code >= 500
                except httpx.HTTPError:
                    errors += 1
                durations.append(time.monotonic() - started)
        durations.sort()
        return errors / len(durations), durations[int(0.95 * (len(durations) - 1))]

    def evaluate(self, reading: Reading) -> Trigger | None:
        limits = self.run.env.thresholds
        self.consecutive_failures = 0 if reading.healthy else self.consecutive_failures + 1
        if reading.error_rate is not None and reading.error_rate > limits.error_rate:
            return Trigger("API error rate", f"{reading.error_rate:.1%}", f"{limits.error_rate:.0%}")
        if reading.p95 is not None and reading.p95 > limits.p95_seconds:
            return Trigger("response time p95", f"{reading.p95:.2f} s", f"{limits.p95_seconds:g} s")
        if not reading.database_ok:
            return Trigger("database connection failures", reading.detail or "database check failed", "none")
        if self.consecutive_failures > limits.health_failures:
            return Trigger(
                "consecutive health check failures", str(self.consecutive_failures), f"> {limits.health_failures}"
            )
        return None


def watch(run: Run, store: Store, state: DeployState, *, minutes: float, rollback: bool) -> Trigger | None:
    """Watch the active colour for `minutes`; on a trigger (and with rollback) switch back to the previous one."""
    env = run.env
    color = state.active
    interval = env.monitoring.interval_seconds
    if not color:
        run.out.warn("no active colour to monitor")
        return None
    if run.dry_run:
        run.executor.probe(
            f"every {interval:g} s for {minutes:g} min: Prometheus error rate and p95 of {color}, "
            f"health through the LB; on a trigger switch back to {state.previous or 'the previous colour'}",
            lambda: None,
            assume=None,
        )
        return None
    watcher = Watcher(run, color)
    started = time.monotonic()
    deadline = started + minutes * 60
    trigger = None
    while time.monotonic() < deadline:
        reading = watcher.read()
        elapsed = time.monotonic() - started
        run.out.info(f"[{elapsed:5.0f} s / {minutes * 60:.0f} s] {color}: {reading.line()}")
        trigger = watcher.evaluate(reading)
        if trigger:
            break
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    if trigger is None:
        run.out.ok(f"{color} healthy for {minutes:g} min: no rollback trigger fired")
        return None
    run.out.fail(f"rollback trigger: {trigger.describe()}")
    if rollback:
        roll_back_to_previous(run, store, state, trigger)
    return trigger


def roll_back_to_previous(run: Run, store: Store, state: DeployState, trigger: Trigger) -> None:
    previous = state.previous
    previous_version = state.colors[previous].runs if previous else None
    if not previous or not previous_version:
        run.out.fail("no previous colour to roll back to: traffic stays where it is")
        return
    common.switch_traffic(run, previous, previous_version)
    failed = state.active
    if failed:
        state.colors[failed].failed_version = state.colors[failed].version
    state.previous, state.active = failed, previous
    store.save(state)
    notify.send(
        run,
        "rollback.automatic",
        {"trigger": trigger.describe(), "from": failed, "to": previous, "version": previous_version},
    )
    run.out.ok(f"rolled back automatically to {previous} ({previous_version})")
