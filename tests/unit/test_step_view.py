"""The live step list, the plain lines and the closing summary: golden text from a recorded event sequence
and a fixed clock (what an operator sees on a terminal, in CI, and at the end of a run)."""

import io

import pytest
from rich.console import Console

from ghosttasks.domain.audit import HistoryEntry, StepRecord
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.run import Run
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.step_events import StepEvent, StepFeed
from ghosttasks.terminal.step_view import PlainSteps, StepBoard, render_finished, render_running, seconds
from ghosttasks.terminal.summary import next_command, render_summary
from ghosttasks.testing import prod

#: What a two-host deploy.prod reported, as recorded (feed clock in seconds).
RECORDED = [
    StepEvent("start", 100.0, step="preflight"),
    StepEvent("finish", 101.2, step="preflight", duration=1.2),
    StepEvent("start", 101.2, step="fetch and build"),
    StepEvent("host_start", 101.5, host="app2", text="build"),
    StepEvent("host_start", 101.6, host="app1", text="build"),
    StepEvent("host_line", 102.0, host="app1", text="[internal] load build definition from Dockerfile"),
    StepEvent("host_line", 104.9, host="app1", text="[api 3/6] RUN pip install --no-cache-dir -r requirements.txt"),
    StepEvent("host_line", 105.0, host="app2", text="[api 2/6] COPY requirements.txt ."),
    StepEvent("host_finish", 110.2, host="app2", text="48 lines in the run log", duration=8.7),
]
LATER = [
    StepEvent("host_finish", 131.0, host="app1", text="52 lines in the run log", duration=29.4),
    StepEvent("finish", 131.2, step="fetch and build", duration=30.0),
    StepEvent("start", 131.2, step="migrate database"),
    StepEvent("fail", 134.45, step="migrate database", duration=3.25, ok=False),
]


def text(*renderables) -> str:
    console = Console(file=io.StringIO(), width=100, record=True, color_system=None)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text()


def board(events) -> StepBoard:
    result = StepBoard()
    for event in events:
        result.apply(event)
    return result


def test_live_frame_shows_the_running_step_and_one_status_line_per_host():
    assert text(render_running(board(RECORDED), 112.34)) == (
        "⠙ fetch and build                           11.1 s\n"
        "    ⠧ app1       build   10.7 s  [api 3/6] RUN pip install --no-cache-dir -r requirements.txt\n"
        "    ✓ app2       build    8.7 s  48 lines in the run log\n"
    )


def test_spinner_turns_with_the_clock_and_a_silent_host_shows_an_ellipsis():
    started = board(RECORDED[:4])
    assert text(render_running(board(RECORDED[:3]), 101.2)) == "⠋ fetch and build                            0.0 s\n"
    assert text(render_running(started, 101.7)) == (
        "⠴ fetch and build                            0.5 s\n    ⠹ app2       build    0.2 s  …\n"
    )


def test_between_steps_the_live_region_is_empty_and_a_finished_step_leaves_its_line():
    everything = RECORDED + LATER
    assert text(render_running(board(everything), 140.0)) == "\n"
    assert text(*(render_finished(event) for event in everything if event.kind in ("finish", "fail"))) == (
        "✓ preflight                                  1.2 s\n"
        "✓ fetch and build                           30.0 s\n"
        "✗ migrate database                           3.2 s\n"
    )


def test_long_names_and_statuses_are_clipped_to_their_columns():
    events = [
        StepEvent("start", 0.0, step="redeploy v1.10.0-rc.1 into green (and a note that runs on)"),
        StepEvent("host_start", 0.0, host="app-server-number-12", text="pull"),
        StepEvent("host_line", 1.0, host="app-server-number-12", text="x" * 80),
    ]
    assert text(render_running(board(events), 75.0)) == (
        f"⠋ redeploy v1.10.0-rc.1 into green (and a…   1m15s\n    ⠋ app-serve… pull     1m15s  {'x' * 59}…\n"
    )


def test_plain_lines_without_a_terminal_have_no_control_characters():
    stream = io.StringIO()
    listener = PlainSteps(Output(stream=stream))
    for event in RECORDED + LATER:
        listener(event)
    assert "\x1b" not in stream.getvalue()
    assert stream.getvalue() == (
        "==> preflight\n"
        "==> fetch and build\n"
        "[app2] build: running (output folded into the run log; --verbose shows it)\n"
        "[app1] build: running (output folded into the run log; --verbose shows it)\n"
        "[app2] build done in 8.7 s (48 lines in the run log)\n"
        "[app1] build done in 29.4 s (52 lines in the run log)\n"
        "==> migrate database\n"
    )


def test_a_failed_folded_command_is_a_fail_line():
    stream = io.StringIO()
    listener = PlainSteps(Output(stream=stream))
    listener(StepEvent("host_start", 0.0, host="app1", text="up"))
    listener(StepEvent("host_finish", 2.0, host="app1", text="7 lines in the run log", duration=2.0, ok=False))
    assert stream.getvalue().splitlines()[-1] == "FAIL [app1] up failed in 2.0 s (7 lines in the run log)"


class FixedClock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_run_steps_emit_start_and_finish_or_fail_with_the_feed_clocks_durations():
    out = Output(silent=True)
    feed = StepFeed(clock=FixedClock(10.0, 12.5, 12.5, 12.5, 20.0, 20.0))
    seen: list[StepEvent] = []
    feed.subscribe(seen.append)
    run = Run(prod(), PlanRecorder(prod(), out), out, "deploy.prod", feed=feed)
    with run.step("preflight"):
        pass
    with pytest.raises(RuntimeError), run.step("migrate database"):
        raise RuntimeError("boom")
    assert [(e.kind, e.step, e.at, e.duration, e.ok) for e in seen] == [
        ("start", "preflight", 10.0, 0.0, True),
        ("finish", "preflight", 12.5, 2.5, True),
        ("start", "migrate database", 12.5, 0.0, True),
        ("fail", "migrate database", 20.0, 7.5, False),
    ]
    assert run.steps == [StepRecord("preflight", 2.5, True), StepRecord("migrate database", 7.5, False)]
    assert run.failed_step == "migrate database"


STEPS = [
    StepRecord("preflight", 1.2, True),
    StepRecord("fetch and build", 30.0, True),
    StepRecord("backup database", 0.84, True),
    StepRecord("start green", 4.1, True),
    StepRecord("migrate database", 2.3, True),
    StepRecord("health check green", 6.0, True),
    StepRecord("smoke test green", 0.4, True),
    StepRecord("switch traffic", 0.3, True),
    StepRecord("verify traffic", 0.2, True),
]
DEPLOYED = {
    "result": "ok",
    "seconds": 45.61,
    "color": "green",
    "previous_color": "blue",
    "version": "v1.1.0",
    "previous_version": "v1.0.0",
    "alembic_head": "0002_artifact_tags",
    "backup": "/var/backups/ghostworks/prod-v1.1.0-20261202T001500Z.dump",
}


def test_summary_of_a_deploy_names_steps_changes_log_and_the_rollback_command():
    log = "/root/.local/state/ghosttasks/runs/20261202T001450Z-deploy-prod-1a2b3c4d.log"
    assert text(render_summary("deploy.prod", "prod", HistoryEntry(**DEPLOYED, steps=STEPS), log)) == (
        "deploy.prod on prod: ok in 45.6 s       \n"
        "┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┓\n"
        "┃ step               ┃ result ┃   time ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━┩\n"
        "│ preflight          │ ✓      │  1.2 s │\n"
        "│ fetch and build    │ ✓      │ 30.0 s │\n"
        "│ backup database    │ ✓      │  0.8 s │\n"
        "│ start green        │ ✓      │  4.1 s │\n"
        "│ migrate database   │ ✓      │  2.3 s │\n"
        "│ health check green │ ✓      │  6.0 s │\n"
        "│ smoke test green   │ ✓      │  0.4 s │\n"
        "│ switch traffic     │ ✓      │  0.3 s │\n"
        "│ verify traffic     │ ✓      │  0.2 s │\n"
        "└────────────────────┴────────┴────────┘\n"
        "traffic:      blue → green\n"
        "version:      v1.1.0 (was v1.0.0)\n"
        "alembic head: 0002_artifact_tags\n"
        "backup:       /var/backups/ghostworks/prod-v1.1.0-20261202T001500Z.dump\n"
        f"run log:      {log}\n"
        "next:         inv deploy.rollback --env prod   (back to v1.0.0 on blue if v1.1.0 misbehaves)\n"
    )


def test_summary_says_each_check_that_could_not_be_judged_on_its_own_line_masked():
    unevaluated = [
        "database: not configured",
        "error rate: no series for the green colour",
        "smoke: https://ops:hunter2@lb.internal/health unreachable",
    ]
    entry = HistoryEntry(**DEPLOYED, steps=STEPS[-2:], unevaluated=unevaluated)
    assert text(render_summary("deploy.prod", "prod", entry, "/tmp/run.log")) == (
        "deploy.prod on prod: ok in 45.6 s  \n"
        "┏━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━┓\n"
        "┃ step           ┃ result ┃  time ┃\n"
        "┡━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━┩\n"
        "│ switch traffic │ ✓      │ 0.3 s │\n"
        "│ verify traffic │ ✓      │ 0.2 s │\n"
        "└────────────────┴────────┴───────┘\n"
        "traffic:      blue → green\n"
        "version:      v1.1.0 (was v1.0.0)\n"
        "alembic head: 0002_artifact_tags\n"
        "backup:       /var/backups/ghostworks/prod-v1.1.0-20261202T001500Z.dump\n"
        "not judged:   database: not configured\n"
        "not judged:   error rate: no series for the green colour\n"
        "not judged:   smoke: https://ops:********@lb.internal/health unreachable\n"
        "run log:      /tmp/run.log\n"
        "next:         inv deploy.rollback --env prod   (back to v1.0.0 on blue if v1.1.0 misbehaves)\n"
    )
    judged = text(render_summary("deploy.prod", "prod", HistoryEntry(**DEPLOYED, steps=STEPS[-2:]), "/tmp/run.log"))
    assert "not judged" not in judged


def test_summary_of_a_failed_deploy_claims_no_switch_and_leaves_next_to_the_error():
    steps = [*STEPS[:3], StepRecord("start green", 3.0, False)]
    failed = HistoryEntry(**{**DEPLOYED, "result": "failed", "alembic_head": None, "seconds": 12.0}, steps=steps)
    rendered = text(render_summary("deploy.prod", "prod", failed, None))
    assert rendered.splitlines()[0].strip() == "deploy.prod on prod: failed in 12.0 s"
    assert "│ start green     │ ✗      │  3.0 s │" in rendered
    assert rendered.splitlines()[-2:] == [
        "backup:       /var/backups/ghostworks/prod-v1.1.0-20261202T001500Z.dump",
        "run log:      none (could not be written)",
    ]


@pytest.mark.parametrize(
    ("task", "entry", "expected"),
    [
        ("deploy.prod", {**DEPLOYED, "previous_version": None}, "inv deploy.status --env prod"),
        ("deploy.prod", {**DEPLOYED, "result": "rolled_back"}, "inv stack.logs api --color green --env prod"),
        ("deploy.prod", {**DEPLOYED, "result": "interrupted"}, None),
        (
            "traffic.switch",
            {"result": "ok", "color": "blue", "previous_color": "green"},
            "inv traffic.switch green --env prod",
        ),
        ("traffic.switch", {"result": "ok", "color": "blue", "previous_color": "blue"}, "inv deploy.status --env prod"),
        ("deploy.emergency-rollback", {"result": "ok", "color": "blue"}, "inv deploy.unlock --env prod --force"),
        ("deploy.rollback", {**DEPLOYED, "color": "blue", "previous_color": "green"}, "inv deploy.status --env prod"),
    ],
)
def test_next_command_follows_the_task_and_its_result(task, entry, expected):
    following = next_command(task, "prod", HistoryEntry(**entry), "api")
    assert (following[0] if following else None) == expected


def test_durations_read_as_people_say_them():
    assert [seconds(value) for value in (0.04, 9.96, 59.9, 60.0, 125.4, 3600)] == [
        "0.0 s",
        "10.0 s",
        "59.9 s",
        "1m00s",
        "2m05s",
        "60m00s",
    ]
