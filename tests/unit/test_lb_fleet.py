"""The two-phase switch over several LBs, over every combination of what two or three LBs can say."""

from __future__ import annotations

import itertools

import pytest

from ghosttasks.decisions import lb_fleet
from ghosttasks.decisions.lb_fleet import Flip, Readiness

NAMES = ("lb1", "lb2", "lb3")
STATES = [
    Readiness("x"),
    Readiness("x", reachable=False),
    Readiness("x", access="sudo -n not allowed"),
    Readiness("x", config_current=False),
    Readiness("x", installed=False),
]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_phase_one_refuses_when_any_lb_is_not_ready_one_line_each(count):
    for combo in itertools.product(STATES, repeat=count):
        checks = [
            Readiness(name, s.reachable, s.access, s.config_current, s.installed)
            for name, s in zip(NAMES, combo, strict=False)
        ]
        lines = lb_fleet.ready(checks)
        bad = [c for c in checks if not c.reachable or c.access or not c.installed]
        assert len(lines) == len(bad)
        assert [line.split(":")[0] for line in lines] == [c.name for c in bad]


FLIPS = [(True, True), (True, None), (True, False), (False, None)]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_phase_two_done_only_when_every_lb_flipped_and_none_failed_else_flipped_ones_go_back(count):
    for combo in itertools.product(FLIPS, repeat=count):
        flips = [Flip(name, flipped, verified) for name, (flipped, verified) in zip(NAMES, combo, strict=False)]
        outcome = lb_fleet.after_flip("green", flips)
        if all(flipped and verified is not False for flipped, verified in combo):
            assert outcome.ok and not outcome.flip_back
            continue
        assert not outcome.ok and len(outcome.failures) == count  # one line per LB
        assert [line.split(":")[0] for line in outcome.failures] == list(NAMES[:count])
        assert outcome.flip_back == tuple(f.name for f in flips if f.flipped)
        back_to = dict.fromkeys(outcome.flip_back, "blue")
        for back in itertools.product([True, False], repeat=len(outcome.flip_back)):
            final = lb_fleet.after_flip_back(back_to, "green", outcome, dict(zip(outcome.flip_back, back, strict=True)))
            stuck = {name for name, ok in zip(outcome.flip_back, back, strict=True) if not ok}
            assert set(final.split) == stuck and not final.ok
            assert final.failures[:count] == outcome.failures
            assert [line.split(":")[0] for line in final.failures[count:]] == sorted(stuck)
            assert all(line.endswith("repair: inv traffic.switch blue") for line in final.failures[count:])


def test_the_lines_say_what_each_lb_did():
    flips = [Flip("lb1", True, True), Flip("lb2", False, error="touch: Read-only file system")]
    outcome = lb_fleet.after_flip("green", flips)
    assert outcome.failures == (
        "lb1: flipped to green; switched back with the others",
        "lb2: flag not moved to green: touch: Read-only file system",
    )
    verified = lb_fleet.after_flip("green", [Flip("lb1", True, True), Flip("lb2", True, False, "3x blue v1")])
    assert verified.flip_back == ("lb1", "lb2")
    assert verified.failures[1] == "lb2: flipped to green but its own address does not answer green only: 3x blue v1"
    final = lb_fleet.after_flip_back({"lb1": "blue", "lb2": "green"}, "green", outcome, {"lb1": False})
    assert final.failures[-1] == (
        "lb1: could not be switched back to blue: it still serves green; repair: inv traffic.switch blue"
    )


def test_emergency_flips_what_it_reaches_and_names_the_rest_with_a_non_zero_exit():
    for reached in itertools.product([None, "unreachable"], repeat=3):
        code, lines = lb_fleet.emergency("blue", dict(zip(NAMES, reached, strict=True)))
        missed = [name for name, error in zip(NAMES, reached, strict=True) if error]
        assert code == (1 if missed else 0)
        assert [line.split(":")[0] for line in lines[:3]] == list(NAMES)
        for name, error in zip(NAMES, reached, strict=True):
            assert (f"{name}: NOT flipped: unreachable" if error else f"{name}: now sends traffic to blue") in lines
        if missed:
            assert lines[-1] == f"flip {', '.join(missed)} by hand, or once reachable: inv traffic.switch blue"
        else:
            assert len(lines) == 3


def test_status_agreement_and_split():
    assert lb_fleet.agreement({"lb1": "green", "lb2": "green"}) == ("green", None)
    assert lb_fleet.agreement({"lb1": "blue"}) == ("blue", None)
    color, error = lb_fleet.agreement({"lb1": "green", "lb2": "blue"})
    assert color is None and error == (
        "the LBs disagree (lb1 green, lb2 blue): traffic is split; repair with inv traffic.switch <colour>"
    )
    assert lb_fleet.agreement({"lb1": "green", "lb2": None}) == (
        None,
        "cannot read every LB's flag (lb1 green, lb2 unreadable); check them, then: inv traffic.status",
    )
