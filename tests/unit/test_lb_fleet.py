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


FLIPS = [(True, True), (True, False), (False, None)]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_phase_two_done_only_when_every_lb_flipped_and_verified_else_flipped_ones_go_back(count):
    for combo in itertools.product(FLIPS, repeat=count):
        flips = [Flip(name, flipped, verified) for name, (flipped, verified) in zip(NAMES, combo, strict=False)]
        outcome = lb_fleet.after_flip("green", flips)
        if all(flipped and verified for flipped, verified in combo):
            assert outcome.ok and not outcome.flip_back
            continue
        assert not outcome.ok and len(outcome.failures) == count  # one line per LB
        assert outcome.flip_back == tuple(f.name for f in flips if f.flipped)
        for back in itertools.product([True, False], repeat=len(outcome.flip_back)):
            final = lb_fleet.after_flip_back("blue", "green", outcome, dict(zip(outcome.flip_back, back, strict=False)))
            stuck = {name for name, ok in zip(outcome.flip_back, back, strict=False) if not ok}
            assert set(final.split) == stuck and not final.ok
            assert all("inv traffic.switch blue" in line for line in final.failures[count:])


def test_emergency_flips_what_it_reaches_and_names_the_rest_with_a_non_zero_exit():
    for reached in itertools.product([True, False], repeat=2):
        code, lines = lb_fleet.emergency("blue", dict(zip(NAMES, reached, strict=False)))
        assert code == (0 if all(reached) else 1)
        missed = [name for name, ok in zip(NAMES, reached, strict=False) if not ok]
        if missed:
            assert lines[-1].startswith(f"flip {', '.join(missed)} by hand")


def test_status_agreement_and_split():
    assert lb_fleet.agreement({"lb1": "green", "lb2": "green"}) == ("green", None)
    color, error = lb_fleet.agreement({"lb1": "green", "lb2": "blue"})
    assert color is None and error == (
        "the LBs disagree (lb1 green, lb2 blue): traffic is split; repair with inv traffic.switch <colour>"
    )
    assert lb_fleet.agreement({"lb1": "green", "lb2": None})[1].startswith("cannot read every LB's flag")
