"""The canary's LB side as exact commands: buckets per share, the atomic swap of the bucket directory, the lease
and its watchdog, the clear, the read; the shares a reading gives; the validation of shares and steps."""

from __future__ import annotations

import pytest

from ghosttasks.commands import nginx
from ghosttasks.domain import canary_buckets, validate
from ghosttasks.domain.errors import BadInput
from ghosttasks.flows.steps.canary_split import shares
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, a_run, prod

CANARY = "/var/lib/ghosttasks/ghostworks-canary"


def test_a_share_is_its_first_buckets_so_a_step_up_only_adds_clients():
    assert canary_buckets.buckets_for(0) == []
    assert canary_buckets.buckets_for(10) == ["b00", "b01"]
    assert canary_buckets.buckets_for(25) == ["b00", "b01", "b02", "b03", "b04"]
    assert set(canary_buckets.buckets_for(25)) < set(canary_buckets.buckets_for(50))
    assert len(canary_buckets.CANARY_BUCKETS) == 20
    assert canary_buckets.percent_of(["b00", "b01", "forced"]) == 10


def test_set_buckets_by_hand_swaps_a_fresh_directory_in_with_one_rename_and_drops_the_lease():
    assert nginx.set_buckets(CANARY, "green", 10) == (
        "rm -f -- /var/lib/ghosttasks/ghostworks-canary.lease && "
        'new=$(mktemp -d /var/lib/ghosttasks/.ghostworks-canary.XXXXXX) && chmod 755 "$new" && '
        'touch "$new"/green-b00 "$new"/green-b01 "$new"/green-forced && '
        "old=$(readlink /var/lib/ghosttasks/ghostworks-canary || true) && "
        'ln -sfn "$new" /var/lib/ghosttasks/ghostworks-canary.ghosttasks-new && '
        "mv -T /var/lib/ghosttasks/ghostworks-canary.ghosttasks-new /var/lib/ghosttasks/ghostworks-canary && "
        'case "$old" in /var/lib/ghosttasks/.ghostworks-canary.*) rm -rf -- "$old";; esac'
    )


def test_a_deploy_canary_renews_a_lease_that_a_single_watchdog_on_the_lb_enforces():
    command = nginx.set_buckets(CANARY, "blue", 5, lease_seconds=45)
    watchdog = (
        "touch /var/lib/ghosttasks/ghostworks-canary.lease && { nohup flock -n "
        "/var/lib/ghosttasks/ghostworks-canary.lease.lock sh -c 'while sleep 2; do "
        "[ -e /var/lib/ghosttasks/ghostworks-canary.lease ] || exit 0; "
        "[ $(( $(date +%s) - $(stat -c %Y /var/lib/ghosttasks/ghostworks-canary.lease) )) -le 45 ] && continue; "
        "rm -f -- /var/lib/ghosttasks/ghostworks-canary /var/lib/ghosttasks/ghostworks-canary.lease && "
        "rm -rf -- /var/lib/ghosttasks/.ghostworks-canary.??????; exit 0; done' >/dev/null 2>&1 </dev/null & } && "
    )
    assert command.startswith(watchdog)
    assert 'touch "$new"/blue-b00 "$new"/blue-forced && ' in command
    assert nginx.renew_lease(CANARY) == "touch -c /var/lib/ghosttasks/ghostworks-canary.lease"


def test_clear_unlinks_the_canary_first_then_removes_lease_and_directories():
    assert nginx.clear_buckets(CANARY) == (
        "rm -f -- /var/lib/ghosttasks/ghostworks-canary /var/lib/ghosttasks/ghostworks-canary.lease && "
        "rm -rf -- /var/lib/ghosttasks/.ghostworks-canary.??????"
    )


def test_read_and_parse_buckets():
    assert nginx.read_buckets(CANARY) == (
        "if [ -d /var/lib/ghosttasks/ghostworks-canary ]; then ls -1 /var/lib/ghosttasks/ghostworks-canary/; fi; "
        "echo '--- ghosttasks: canary buckets ---'"
    )
    answer = f"green-b01\ngreen-b00\ngreen-forced\n{nginx.CANARY_MARK}\n"
    assert nginx.parse_buckets(answer) == {"green": ["b00", "b01", "forced"]}
    assert nginx.parse_buckets(f"{nginx.CANARY_MARK}\n") == {}
    assert nginx.parse_buckets("ls: cannot access") is None


@pytest.mark.parametrize(
    ("active", "answer", "expected"),
    [
        ("blue", "", {"blue": 100, "green": 0}),
        ("blue", "green-b00\ngreen-b01\ngreen-forced\n", {"blue": 90, "green": 10}),
        ("green", "blue-b00\nblue-forced\n", {"blue": 5, "green": 95}),
        (None, "", {"blue": 0, "green": 0}),
    ],
)
def test_the_shares_set_follow_the_buckets_and_the_flag(active, answer, expected):
    recorder = ScriptedExecutor(prod(), dry_run=True, unscripted="assume").on(
        nginx.CANARY_MARK, answer + nginx.CANARY_MARK + "\n"
    )
    assert shares(a_run(recorder, task="traffic.status", out=Output(silent=True)), active) == expected


def test_validation_of_shares_and_steps():
    assert validate.canary_percent("0") == 0
    assert validate.canary_percent("35") == 35
    assert validate.canary_steps("5,25,50") == [5, 25, 50]
    assert validate.canary_steps("none") == []
    refused = {
        ("percent", "100"): "percent: 100 % is the full switch: inv traffic.switch COLOR",
        ("percent", "12"): "percent: a canary share is a multiple of 5 from 0 to 95, not 12",
        ("percent", "-5"): "percent '-5' is not a whole percentage",
        ("steps", "5,50,25"): "--canary: canary steps must rise: 5,50,25",
        ("steps", "5,100"): "--canary: a canary step is a multiple of 5 from 5 to 95, not 100",
        ("steps", "5;rm"): "--canary '5;rm' is not a list of percentages like 5,25,50 (or none)",
    }
    for (kind, value), message in refused.items():
        check = validate.canary_percent if kind == "percent" else validate.canary_steps
        with pytest.raises(BadInput) as raised:
            check(value)
        assert str(raised.value) == message
