"""The lab's starting-state planner (tests/lab/world.py: start_commands) on made-up states: no lab."""

from __future__ import annotations

import pytest

from tests.lab.world import NO_MONITOR, start_commands


def deploy(version: str) -> tuple[str, ...]:
    return ("deploy.prod", "--version", version, *NO_MONITOR)


def switch(color: str) -> tuple[str, ...]:
    return ("traffic.switch", color, "--yes")


@pytest.mark.parametrize(
    ("active", "blue", "green", "expected"),
    [
        ("green", "v1.0.0", "v1.1.0", []),  # already there
        ("blue", "v1.0.0", "v1.1.0", [switch("green")]),  # the versions are right: a switch
        (None, None, None, [deploy("v1.0.0"), deploy("v1.1.0")]),  # a fresh lab: the first deploy goes into blue
        ("green", None, "v1.1.0", [deploy("v1.0.0"), switch("green")]),  # blue failed: redeployed, then back
        ("blue", "v1.0.0", None, [deploy("v1.1.0")]),  # green failed while blue serves: one deploy
        ("green", "v1.0.0", "v1.3.0", [switch("blue"), deploy("v1.1.0")]),  # blue is right: serve from it first
        ("blue", "v1.3.0", "v1.1.0", [switch("green"), deploy("v1.0.0"), switch("green")]),
    ],
)
def test_the_fewest_commands_to_green_v110_blue_v100(active, blue, green, expected):
    assert start_commands(active, {"blue": blue, "green": green}, "v1.1.0", "v1.0.0", "green") == expected


@pytest.mark.parametrize(
    ("active", "blue", "green", "expected"),
    [
        ("green", "v1.0.0", "v1.1.0", []),  # green serves v1.1.0: blue may hold anything
        ("green", None, "v1.1.0", []),  # even a failed release
        ("blue", "v1.3.0", "v1.1.0", [switch("green")]),  # green holds it: a switch
        ("green", "v1.3.0", "v1.0.0", [switch("blue"), deploy("v1.1.0")]),  # blue keeps v1.3.0 while green gets it
        ("green", None, "v1.0.0", [deploy("v1.1.0"), deploy("v1.1.0")]),  # blue holds nothing good: v1.1.0 too
        (None, None, None, [deploy("v1.1.0"), deploy("v1.1.0")]),  # a fresh lab
    ],
)
def test_green_v110_whatever_blue_holds(active, blue, green, expected):
    assert start_commands(active, {"blue": blue, "green": green}, "v1.1.0", None, "green") == expected
