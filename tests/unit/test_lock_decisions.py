"""The deploy lock's pure decisions (records.deploy_lock): reading the holder, is it mine, the refusal line."""

import json

import pytest

from ghosttasks.domain.audit import LockHolder
from ghosttasks.records.deploy_lock import describe_holder, is_mine

SINCE_EPOCH = 1_764_600_000

HOLDER = {
    "user": "ana",
    "origin": "laptop",
    "run_id": "20261201-100000-ab12",
    "task": "deploy.prod",
    "version": "v1.1.0",
    "reason": "deploy v1.1.0",
    "since": "2026-12-01T10:00:00Z",
    "since_epoch": SINCE_EPOCH,
    "frozen": False,
}
FROZEN = {**HOLDER, "task": "deploy.emergency-rollback", "version": None, "reason": "p95 at 9 s", "frozen": True}

UNLOCK = "If that run is gone: inv deploy.unlock --env prod --force"


# -- LockHolder.parse ------------------------------------------------------------------------------


def test_a_valid_holder():
    assert LockHolder.parse(json.dumps(HOLDER, sort_keys=True)).to_dict() == HOLDER


def test_a_holder_with_surrounding_whitespace():
    assert LockHolder.parse("\n  " + json.dumps(HOLDER) + "\n").to_dict() == HOLDER


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("garbage", "garbage"),
        ("  half {written\n", "half {written"),
        ('{"user": "ana"', '{"user": "ana"'),
        ("", ""),
        ('["ana", "laptop"]', '["ana", "laptop"]'),
        ("[]", "[]"),
        ('"ana"', '"ana"'),
        ("42", "42"),
        ("null", "null"),
    ],
)
def test_an_unreadable_holder_is_described_never_an_error(text, raw):
    assert LockHolder.parse(text).to_dict() == {"reason": "unreadable lock file", "raw": raw}


def test_the_raw_text_of_an_unreadable_holder_is_cut_at_200_characters():
    holder = LockHolder.parse("x" * 500)
    assert holder.to_dict() == {"reason": "unreadable lock file", "raw": "x" * 200}


# -- is_mine -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holder", "mine"),
    [
        (HOLDER, True),
        ({**HOLDER, "run_id": "another-run"}, True),  # my own earlier run: still mine
        ({**HOLDER, "user": "bob"}, False),
        ({**HOLDER, "origin": "ci-runner"}, False),
        ({**HOLDER, "user": "bob", "origin": "ci-runner"}, False),
        (FROZEN, False),  # an emergency freeze is never lifted by a plain unlock, even by its author
        ({**HOLDER, "frozen": None}, True),
        ({"user": "ana", "origin": "laptop"}, True),
        ({}, False),
        ({"reason": "unreadable lock file", "raw": "garbage"}, False),
    ],
)
def test_is_mine(holder, mine):
    assert is_mine(LockHolder.from_dict(holder), user="ana", origin="laptop") is mine


def test_is_mine_compares_exactly():
    assert not is_mine(LockHolder.from_dict(HOLDER), user="Ana", origin="laptop")
    assert not is_mine(LockHolder.from_dict(HOLDER), user="ana", origin="laptop.local")


# -- describe_holder ---------------------------------------------------------------------------


def test_the_refusal_for_another_deploy():
    assert describe_holder(LockHolder.from_dict(HOLDER), "prod", SINCE_EPOCH + 125.9) == (
        "prod is locked by another deploy: deploy.prod v1.1.0 by ana@laptop, run 20261201-100000-ab12, "
        f"since 2026-12-01T10:00:00Z (2 min 5 s ago), reason: deploy v1.1.0. {UNLOCK}"
    )


def test_the_refusal_for_a_freeze():
    assert describe_holder(LockHolder.from_dict(FROZEN), "prod", SINCE_EPOCH + 3600) == (
        "deploys to prod are frozen (emergency rollback): deploy.emergency-rollback by ana@laptop, "
        f"run 20261201-100000-ab12, since 2026-12-01T10:00:00Z (60 min 0 s ago), reason: p95 at 9 s. {UNLOCK}"
    )


def test_the_refusal_names_the_environment():
    text = describe_holder(LockHolder.from_dict(HOLDER), "staging", SINCE_EPOCH)
    assert text.startswith("staging is locked by another deploy: ")
    assert text.endswith("If that run is gone: inv deploy.unlock --env staging --force")


def test_the_refusal_with_every_field_missing():
    assert describe_holder(LockHolder.from_dict({}), "prod", SINCE_EPOCH) == (
        f"prod is locked by another deploy: ? by ?@?, run ?, since ?, reason: ?. {UNLOCK}"
    )


def test_the_refusal_for_an_unreadable_lock_file():
    assert describe_holder(LockHolder.parse("garbage"), "prod", SINCE_EPOCH) == (
        f"prod is locked by another deploy: ? by ?@?, run ?, since ?, reason: unreadable lock file. {UNLOCK}"
    )


def test_a_lock_without_a_version_leaves_no_double_space():
    text = describe_holder(LockHolder.from_dict({**HOLDER, "version": None}), "prod", SINCE_EPOCH)
    assert "deploy.prod by ana@laptop" in text
    assert "  " not in text


@pytest.mark.parametrize(
    ("since_epoch", "now", "age"),
    [
        (SINCE_EPOCH, SINCE_EPOCH, " (0 min 0 s ago)"),
        (SINCE_EPOCH, SINCE_EPOCH + 0.99, " (0 min 0 s ago)"),  # whole seconds, rounded down
        (SINCE_EPOCH, SINCE_EPOCH + 59, " (0 min 59 s ago)"),
        (SINCE_EPOCH, SINCE_EPOCH + 60, " (1 min 0 s ago)"),
        (SINCE_EPOCH, SINCE_EPOCH + 7322, " (122 min 2 s ago)"),
        (SINCE_EPOCH, SINCE_EPOCH - 30, " (0 min 0 s ago)"),  # a clock behind the holder's: never negative
        (0, SINCE_EPOCH, ""),  # a dry run's lock has no epoch
        (-5, SINCE_EPOCH, ""),
        (None, SINCE_EPOCH, ""),
        ("1764600000", SINCE_EPOCH, ""),  # not a number this tool writes
        (1_764_600_000.5, SINCE_EPOCH, ""),
    ],
)
def test_the_age(since_epoch, now, age):
    text = describe_holder(LockHolder.from_dict({**HOLDER, "since_epoch": since_epoch}), "prod", now)
    assert f"since 2026-12-01T10:00:00Z{age}, reason: deploy v1.1.0." in text


def test_a_holder_without_since_epoch_shows_no_age():
    holder = {key: value for key, value in HOLDER.items() if key != "since_epoch"}
    assert "since 2026-12-01T10:00:00Z, reason" in describe_holder(
        LockHolder.from_dict(holder), "prod", SINCE_EPOCH + 60
    )
