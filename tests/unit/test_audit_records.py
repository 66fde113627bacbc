"""The audit records (domain.audit): every field round-trips, the JSON is what history.jsonl and lock/info.json
have always held, and old or broken lines still read."""

import json
from dataclasses import fields

import pytest

from ghosttasks.domain.audit import HistoryEntry, LockHolder, StepRecord

HOLDER = LockHolder(
    run_id="0badc0de",
    user="ana",
    origin="laptop",
    pid=4242,
    command="inv deploy.prod --version v1.2.0",
    task="deploy.prod",
    version="v1.2.0",
    reason="deploy v1.2.0",
    since="2026-12-01T10:00:00Z",
    since_epoch=1_764_600_000,
    frozen=False,
    raw="{",
)

EVERY_FIELD = HistoryEntry(
    run_id="feedf00d",
    user="ana",
    origin="laptop",
    pid=4242,
    command="inv deploy.prod --version v1.2.0",
    task="deploy.prod",
    environment="prod",
    version="v1.2.0",
    reason="deploy v1.2.0",
    start="2026-12-01T10:00:00Z",
    end="2026-12-01T10:04:00Z",
    seconds=240.5,
    result="rolled_back",
    error="p95 above 800 ms",
    failed_step="monitor",
    steps=[StepRecord("preflight", 1.25, True), StepRecord("monitor", 200.0, False)],
    color="blue",
    previous_color="green",
    previous_version="v1.1.0",
    backup="/var/backups/ghostworks/prod-v1.2.0-20261201T100000Z.dump",
    alembic_head="c3c3c3c3c3c3",
    alembic_revision="b2b2b2b2b2b2",
    images={"api": "registry/ghostworks-api@sha256:1234"},
    removed={"app1": ["v0.9.0"]},
    migration_lint="squawk: no findings",
    allow_breaking_migration=True,
    state_repaired=["blue runs v1.1.0, not v1.0.0"],
    trigger="p95 920 ms > 800 ms",
    unevaluated=["error rate: no series (4 of 4 readings)"],
    warning="the database is ahead",
    alerted=True,
    workers=["app1: blue worker, blue scheduler", "app2: blue worker"],
    queue="ghostworks:jobs 12 → 0",
    incident=False,
    holder=HOLDER.summary(),
    forced=True,
    age_seconds=754,
    noticed_by="0ddba11",
    line=7,
)


def test_every_history_field_is_set_in_the_round_trip_example():
    assert set(EVERY_FIELD.to_dict()) == {f.name for f in fields(HistoryEntry)}


def test_a_history_entry_round_trips_through_its_line():
    line = EVERY_FIELD.to_json()
    again = HistoryEntry.parse(line, 1)
    assert again == EVERY_FIELD
    assert again.to_json() == line


def test_a_died_line_round_trips_with_its_holder_as_text():
    died = HistoryEntry(run_id=None, end=None, seconds=None, result="died", holder="ana@laptop", age_seconds=None)
    assert HistoryEntry.parse(died.to_json(), 1) == died
    assert died.to_json() == HistoryEntry.parse(died.to_json(), 1).to_json()


def test_a_lock_holder_round_trips_through_its_file():
    assert LockHolder.parse(HOLDER.to_json()) == HOLDER
    assert LockHolder.parse(HOLDER.to_json()).to_json() == HOLDER.to_json()


def test_the_history_line_is_the_one_the_dicts_wrote():
    """deploy.prod's dry-run line, as tests/unit/plans/deploy-prod.txt has it since before the records."""
    entry = HistoryEntry(
        run_id="RUN_ID",
        user="USER",
        origin="ORIGIN",
        pid=0,
        command="deploy.prod",
        task="deploy.prod",
        environment="prod",
        version="v1.2.0",
        start="YYYY-MM-DDTHH:MM:SSZ",
    )
    entry.color, entry.previous_color, entry.previous_version = "blue", "green", "v1.1.0"
    entry.migration_lint = "squawk: no findings"
    entry.backup = "/var/backups/ghostworks/prod-v1.2.0-YYYYMMDDTHHMMSSZ.dump"
    entry.alembic_revision = entry.alembic_head = "c3c3c3c3c3c3"
    entry.result, entry.end, entry.seconds, entry.failed_step, entry.steps = "ok", "YYYY-MM-DDTHH:MM:SSZ", 0, None, []
    assert entry.to_json() == (
        '{"alembic_head": "c3c3c3c3c3c3", "alembic_revision": "c3c3c3c3c3c3", '
        '"backup": "/var/backups/ghostworks/prod-v1.2.0-YYYYMMDDTHHMMSSZ.dump", "color": "blue", '
        '"command": "deploy.prod", "end": "YYYY-MM-DDTHH:MM:SSZ", "environment": "prod", "failed_step": null, '
        '"migration_lint": "squawk: no findings", "origin": "ORIGIN", "pid": 0, "previous_color": "green", '
        '"previous_version": "v1.1.0", "result": "ok", "run_id": "RUN_ID", "seconds": 0, '
        '"start": "YYYY-MM-DDTHH:MM:SSZ", "steps": [], "task": "deploy.prod", "user": "USER", "version": "v1.2.0"}'
    )


def test_a_field_set_to_none_is_written_and_one_never_set_is_left_out():
    entry = HistoryEntry(task="deploy.prod")
    entry.previous_color = None  # a first deploy: nothing served before
    assert entry.to_dict() == {"task": "deploy.prod", "previous_color": None}


def test_an_old_line_reads_with_what_it_has():
    """A line from before steps, failed_step and environment were recorded, with a key no longer written."""
    old = {"run_id": "0ld", "task": "deploy.prod", "version": "v0.9.0", "result": "ok", "host": "lb1"}
    entry = HistoryEntry.parse(json.dumps(old), 3)
    assert (entry.run_id, entry.result, entry.steps, entry.failed_step) == ("0ld", "ok", None, None)
    assert entry.to_dict() == {key: value for key, value in old.items() if key != "host"}


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"steps": [{"name": "x"}]}', '{"steps": 3}'])
def test_a_line_that_is_no_entry_stays_representable(line):
    assert HistoryEntry.parse(line, 4).to_dict() == {"result": "unreadable", "line": 4}


def test_a_partial_lock_file_keeps_only_what_it_says():
    holder = LockHolder.parse('{"user": "ana", "version": null}')
    assert holder.to_dict() == {"user": "ana", "version": None}
    assert (holder.who, holder.summary().to_dict()) == ("ana@?", {"user": "ana", "version": None})


def test_an_unreadable_lock_file():
    holder = LockHolder.parse("garbage\n")
    assert holder.to_dict() == {"reason": "unreadable lock file", "raw": "garbage"}
    assert holder.summary().to_dict() == {"reason": "unreadable lock file"}
