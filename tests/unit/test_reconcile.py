"""Reality before records (ghosttasks.decisions.reconcile): exact repairs for the states a killed run leaves, and rules
that hold over the whole space of recorded states, LB flags, containers and unfinished intents."""

import copy
import itertools

import pytest

from ghosttasks.decisions.reconcile import Reality, reconcile
from ghosttasks.domain.colors import COLORS, other
from ghosttasks.domain.deploy_state import ColorState, DeployState, Intent

T1, T2 = "2026-12-07T03:00:00Z", "2026-12-07T03:05:00Z"
HOSTS = ("app1", "app2")


def everywhere(**colours: str | None) -> dict:
    """Containers per colour on both app hosts: a version, or None for nothing running."""
    return {
        color: {host: frozenset({colours[color]} if colours.get(color) else set()) for host in HOSTS}
        for color in COLORS
    }


def blue_serves_green_holds() -> DeployState:
    """blue serves v2.0.0, green holds v1.0.0 idle (the state before the issue's deploy of v2.1.0)."""
    return DeployState(
        active="blue",
        previous="green",
        colors={"blue": ColorState("v2.0.0", "0002_b", T1), "green": ColorState("v1.0.0", "0001_a", T1)},
        version_heads={"v1.0.0": "0001_a", "v2.0.0": "0002_b", "v2.1.0": "0003_c"},
        version_images={"v2.1.0": {"api": "registry/ghost-api@sha256:21"}},
        deployed=["v1.0.0", "v2.0.0"],
    )


def deploying(version="v2.1.0", into="green", **flags) -> DeployState:
    state = blue_serves_green_holds()
    state.intent = Intent("0badc0de", "deploy.prod", T2, into, version, **flags)
    return state


# -- the states a killed run leaves, repaired exactly ----------------------------------------------------------


def test_killed_right_after_the_flip_completes_the_record_from_the_lb():
    """The issue's outage: the flag already on green, state.json still saying blue."""
    result = reconcile(deploying(), Reality("green", everywhere(blue="v2.0.0", green="v2.1.0")))
    state = result.state
    assert (state.active, state.previous, state.idle) == ("green", "blue", "blue")
    assert state.colors["green"] == ColorState("v2.1.0", "0003_c", T2, images={"api": "registry/ghost-api@sha256:21"})
    assert state.colors["blue"].runs == "v2.0.0" and state.intent is None
    assert state.deployed == ["v1.0.0", "v2.0.0", "v2.1.0"]
    assert result.lines() == [
        f"the unfinished deploy.prod (run 0badc0de, since {T2}): v2.1.0 into green: completed from the LB, which "
        "sends traffic to green (v2.1.0); that run never verified it: check it with inv traffic.verify"
    ]


def test_killed_after_starting_the_new_colour_rolls_the_record_back_and_fails_that_colour():
    result = reconcile(deploying(), Reality("blue", everywhere(blue="v2.0.0", green="v2.1.0")))
    state = result.state
    assert (state.active, state.idle) == ("blue", "green")
    assert state.colors["green"].failed_version == "v2.1.0" and state.colors["green"].runs is None
    assert result.lines() == [
        f"the unfinished deploy.prod (run 0badc0de, since {T2}): v2.1.0 into green: rolled back, the LB never sent "
        "traffic to green (blue serves); green runs v2.1.0 on app1, app2 and is marked failed: no switch or rollback "
        "goes to it until a good version is deployed into it"
    ]


def test_killed_halfway_through_starting_names_what_each_host_runs():
    containers = everywhere(blue="v2.0.0", green="v1.0.0")
    containers["green"]["app1"] = frozenset({"v2.1.0"})
    result = reconcile(deploying(), Reality("blue", containers))
    assert result.state.colors["green"].failed_version == "v2.1.0"
    assert "green runs v2.1.0 on app1, v1.0.0 on app2 and is marked failed" in result.lines()[0]


def test_killed_before_anything_started_changes_nothing_but_the_journal():
    result = reconcile(deploying(), Reality("blue", everywhere(blue="v2.0.0", green="v1.0.0")))
    expected = blue_serves_green_holds()
    assert result.state == expected
    assert result.lines()[0].endswith(
        "rolled back, the LB never sent traffic to green (blue serves); nothing had changed"
    )


def test_an_automatic_rollback_killed_after_its_flip_fails_the_abandoned_colour():
    state = blue_serves_green_holds()
    state.active, state.previous = "green", "blue"
    state.colors["green"] = ColorState("v2.1.0", "0003_c", T2)
    state.intent = Intent("0badc0de", "deploy.prod", T2, "blue", "v2.0.0", replaces=False, fails_other=True)
    result = reconcile(state, Reality("blue", everywhere(blue="v2.0.0", green="v2.1.0")))
    assert (result.state.active, result.state.previous) == ("blue", "green")
    assert result.state.colors["green"].failed_version == "v2.1.0"
    assert result.state.colors["blue"] == ColorState("v2.0.0", "0002_b", T1)
    assert "traffic to blue (v2.0.0)" in result.lines()[0] and "never verified" not in result.lines()[0]


def test_this_runs_own_change_is_said_as_this_runs():
    result = reconcile(deploying(), Reality("blue", everywhere(blue="v2.0.0", green="v2.1.0")), current_run="0badc0de")
    assert result.lines()[0].startswith("this run's deploy.prod (run 0badc0de")


def test_a_switch_the_file_never_heard_of_is_taken_from_the_lb():
    result = reconcile(blue_serves_green_holds(), Reality("green", everywhere(blue="v2.0.0", green="v1.0.0")))
    assert (result.state.active, result.state.previous) == ("green", "blue")
    assert result.lines() == ["serving colour: state.json said blue, the LB sends traffic to green"]


def test_without_the_app_hosts_the_lb_alone_decides_and_a_touched_colour_is_failed():
    """The emergency rollback reads only the LB: a deploy it interrupts may have replaced green's containers."""
    result = reconcile(deploying(), Reality("blue"))
    assert result.state.colors["green"].failed_version == "v2.1.0"
    assert "green runs what that run started and is marked failed" in result.lines()[0]


def test_an_idle_colour_whose_containers_run_something_else_is_no_target():
    result = reconcile(blue_serves_green_holds(), Reality("blue", everywhere(blue="v2.0.0", green="v0.9.0")))
    assert result.state.colors["green"].failed_version == "v0.9.0"
    assert result.lines() == [
        "green: state.json said green runs v1.0.0, its containers run v0.9.0 on app1, app2: marked failed, no longer "
        "a switch target"
    ]


def test_an_idle_colour_with_nothing_running_is_no_target():
    result = reconcile(blue_serves_green_holds(), Reality("blue", everywhere(blue="v2.0.0")))
    assert result.state.colors["green"].runs is None
    assert result.lines() == [
        "green: state.json said green runs v1.0.0, its containers run nothing on app1, app2: marked failed, no "
        "longer a switch target"
    ]


def test_the_serving_colour_is_recorded_as_what_it_runs():
    result = reconcile(blue_serves_green_holds(), Reality("blue", everywhere(blue="v2.1.0", green="v1.0.0")))
    assert result.state.colors["blue"] == ColorState("v2.1.0", "0003_c", T1)
    assert result.lines() == [
        "blue (serving): state.json said blue runs v2.0.0, its containers run v2.1.0 on app1, app2"
    ]


def test_a_lost_state_file_is_rebuilt_for_what_serves_and_nothing_else_is_a_target():
    result = reconcile(DeployState(), Reality("green", everywhere(blue="v1.0.0", green="v1.1.0")))
    state = result.state
    assert (state.active, state.colors["green"].runs) == ("green", "v1.1.0")
    assert state.colors["blue"].runs is None and state.colors["blue"].failed_version == "v1.0.0"


def test_a_fresh_environment_needs_no_repair():
    assert not reconcile(DeployState(), Reality("blue", everywhere())).changed


# -- the whole space ---------------------------------------------------------------------------------------------

VERSIONS = ("v1.0.0", "v2.0.0", "v2.1.0")
RECORDS = [ColorState(), ColorState("v1.0.0", "0001_a", T1), ColorState("v2.0.0", "0002_b", T1, "v2.1.0")]
RUNNING = [None, "v1.0.0", "v2.0.0", "v2.1.0", "mixed"]
INTENTS = [
    None,
    ("green", "v2.1.0", True, False),
    ("blue", "v2.1.0", True, False),
    ("blue", "v1.0.0", False, True),
    ("green", "v2.0.0", False, False),
]


def containers_of(blue, green) -> dict:
    found = {}
    for color, running in (("blue", blue), ("green", green)):
        if running == "mixed":
            found[color] = {"app1": frozenset({"v2.1.0"}), "app2": frozenset({"v1.0.0"})}
        else:
            found[color] = {host: frozenset({running} if running else set()) for host in HOSTS}
    return found


def all_cases():
    for active, blue, green, intent, lb, run_blue, run_green in itertools.product(
        (None, "blue", "green"), RECORDS, RECORDS, INTENTS, COLORS, RUNNING, RUNNING
    ):
        state = DeployState(active=active, previous=other(active) if active else None)
        state.colors = {"blue": copy.deepcopy(blue), "green": copy.deepcopy(green)}
        state.version_heads = {"v1.0.0": "0001_a", "v2.0.0": "0002_b", "v2.1.0": "0003_c"}
        if intent:
            color, version, replaces, fails_other = intent
            state.intent = Intent("0badc0de", "deploy.prod", T2, color, version, replaces, fails_other)
        yield state, Reality(lb, containers_of(run_blue, run_green))


CASES = list(all_cases())


def test_the_space_is_large():
    assert len(CASES) == 3 * 3 * 3 * 5 * 2 * 5 * 5


def test_over_every_state_the_record_agrees_with_reality_and_never_points_a_deploy_at_the_serving_colour():
    broken = []
    for state, reality in CASES:
        before = copy.deepcopy(state)
        result = reconcile(state, reality)
        after = result.state
        lb = reality.lb_color
        completed = before.intent is not None and before.intent.color == lb
        anything_there = before.active or before.colors[lb].version or reality.runs(lb) or completed
        problems = []
        if state != before:
            problems.append("the input state was changed")
        if after.intent is not None:
            problems.append("the intent is still there")
        if anything_there and after.active != reality.lb_color:
            problems.append(f"active is {after.active}, the LB serves {reality.lb_color}")
        if after.active is not None and after.idle == reality.lb_color:
            problems.append("a deploy would go into the serving colour")
        for color in COLORS:
            good = after.colors[color].runs
            if good is not None and not reality.runs_everywhere(color, good):
                problems.append(f"{color} is a target for {good} but runs {reality.describe(color)}")
        if reconcile(after, reality).changed:
            problems.append(f"not settled after one repair: {reconcile(after, reality).lines()}")
        if result.changed != (after != before or before.intent is not None):
            problems.append("a change was made without a line saying so, or a line without a change")
        if problems:
            broken.append(f"{before} / {reality}: {'; '.join(problems)}")
    assert not broken, f"{len(broken)} broken, e.g.:\n" + "\n".join(broken[:5])


@pytest.mark.parametrize("lb", COLORS)
def test_a_change_that_reached_the_lb_is_completed_and_one_that_did_not_is_rolled_back(lb):
    for state, reality in CASES:
        if reality.lb_color != lb or state.intent is None:
            continue
        line = reconcile(state, reality).resolution or ""
        completed = state.intent.color == lb
        assert ("completed from the LB" in line) == completed, line
        assert ("rolled back" in line) == (not completed), line
