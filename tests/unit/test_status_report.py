"""How deploy.status and traffic.status show state.json disagreeing with reality: errors, and what repairs it."""

import io

from ghosttasks.domain.audit import LockHolder
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.reporting import show_disagreements

LINE = "serving colour: state.json said blue, the LB sends traffic to green"


def shown(disagreements, lock=None) -> str:
    stream = io.StringIO()
    show_disagreements(Output(stream=stream), "prod", disagreements, lock)
    return stream.getvalue()


def test_each_disagreement_is_an_error_with_the_command_that_repairs_it():
    assert shown([LINE]) == (
        f"FAIL state.json disagrees with reality: {LINE}\n"
        "next: inv deploy.recover --env prod (or any deploy, rollback or switch) repairs the record\n"
    )


def test_a_held_lock_is_named_as_a_run_that_may_not_have_recorded_its_change_yet():
    text = shown([LINE], LockHolder(task="deploy.prod", run_id="1a2b3c4d"))
    assert "warn deploy.prod (run 1a2b3c4d) holds the lock: a run in progress records its change when it ends" in text
    assert "release its lock first (inv deploy.unlock --force)" in text


def test_nothing_is_shown_when_the_record_is_true():
    assert shown([]) == ""
