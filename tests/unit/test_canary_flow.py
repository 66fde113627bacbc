"""The canary's walk over a scripted LB (the access-log source): promoted steps, an abort that puts every bucket
back and names step, metric and both values, and an interruption that clears the buckets before it goes on."""

from __future__ import annotations

import json

import pytest

from ghosttasks.commands import nginx
from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.deploy_state import DeployState
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.flows import canary
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod

CANARY_PATH = "/var/lib/ghosttasks/ghostworks-canary"


def env_with(**canary_settings):
    env = prod()
    settings = env.canary.model_copy(update=canary_settings)
    metrics = env.metrics.model_copy(update={"source": "access_log"})
    return env.model_copy(update={"canary": settings, "metrics": metrics})


def log(green_errors: int, requests: int = 100) -> str:
    """An access-log window: `requests` answers per colour, `green_errors` of green's with status 500."""
    lines = [f"gt1 1000.{n:03d} {500 if n < green_errors else 200} 0.020 green" for n in range(requests)]
    lines += [f"gt1 1000.{n:03d} 200 0.020 blue" for n in range(requests)]
    return "now 1001\n" + "\n".join(lines) + "\n"


def state() -> DeployState:
    state = DeployState()
    state.active = "blue"
    state.colors["blue"].version = "v1.1.0"
    state.colors["green"].version = "v1.2.0"
    return state


def walk(env, answer: str, steps, monkeypatch, **rules):
    recorder = ScriptedExecutor(env).on("ghostworks-access.log", answer)
    recorder.on(nginx.CONFIG_MARK, reply=lambda call: _current(env))
    for match, reply in rules.items():
        recorder.on(match, reply=reply)
    monkeypatch.setattr(canary.time, "sleep", lambda seconds: None)
    run = a_run(recorder, out=Output(silent=True))
    holder = json.dumps({"run_id": run.run_id, "user": "u", "origin": "o"})
    recorder.on("lock/info.json", holder)  # the lock is still ours
    entry = HistoryEntry()
    error = None
    try:
        canary.walk(run, state(), "green", "v1.2.0", steps, entry)
    except (OperationFailed, KeyboardInterrupt, RuntimeError) as exc:
        error = exc
    return recorder, entry, error


def _current(env):
    from ghosttasks.commands import render
    from ghosttasks.testing import Answer

    text = f"{render.upstream(env)}{nginx.CONFIG_MARK}\n{render.selector(env)}{nginx.CONFIG_MARK}\nblue\n"
    return Answer(text, "", 0)


def lb_commands(recorder) -> list[str]:
    return [c.command for c in recorder.commands if CANARY_PATH in c.command]


def test_good_readings_promote_every_step_and_leave_the_buckets_for_the_switch(monkeypatch):
    env = env_with(step_seconds=0)
    recorder, entry, error = walk(env, log(0), [10, 50], monkeypatch)
    assert error is None
    assert [(step["percent"], step["result"]) for step in entry.canary] == [(10, "promote"), (50, "promote")]
    lease = canary.lease_seconds(a_run(recorder))
    assert lb_commands(recorder) == [
        nginx.set_buckets(CANARY_PATH, "green", 10, lease_seconds=lease),
        nginx.renew_lease(CANARY_PATH),
        nginx.set_buckets(CANARY_PATH, "green", 50, lease_seconds=lease),
        nginx.renew_lease(CANARY_PATH),
    ]


def test_a_failed_comparison_clears_every_bucket_and_names_step_metric_and_values(monkeypatch):
    recorder, entry, error = walk(env_with(step_seconds=60), log(30), [10, 50], monkeypatch)
    assert isinstance(error, OperationFailed)
    assert lb_commands(recorder)[-1] == nginx.clear_buckets(CANARY_PATH)
    assert entry.result == "canary_aborted"
    assert (
        entry.trigger == "step 10%: error rate 30.0% on green v1.2.0 vs 0.0% on blue v1.1.0 (above the threshold 10%)"
    )
    assert entry.canary == [
        {
            "percent": 10,
            "result": "abort",
            "reason": "above the threshold 10%",
            "metric": "error rate",
            "canary": "30.0%",
            "stable": "0.0%",
        }
    ]
    assert str(error).endswith("every client is back on blue (v1.1.0)")


def test_too_few_requests_hold_the_step_until_the_limit_then_abort(monkeypatch):
    env = env_with(step_seconds=0, min_requests=20, max_inconclusive_readings=2)
    recorder, entry, error = walk(env, log(0, requests=5), [10], monkeypatch)
    assert isinstance(error, OperationFailed)
    assert lb_commands(recorder).count(nginx.renew_lease(CANARY_PATH)) == 3  # two holds, the third aborts
    assert entry.canary[0]["metric"] == "requests" and entry.canary[0]["canary"] == "5"


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_an_interruption_clears_the_buckets_before_it_goes_on(monkeypatch, interruption):
    def renew(call):
        raise interruption()

    recorder, _, error = walk(env_with(), log(0), [10], monkeypatch, **{"touch -c": renew})
    assert lb_commands(recorder)[-1] == nginx.clear_buckets(CANARY_PATH)
    assert isinstance(error, interruption)  # cleared, then the run's own exception goes on
