"""Deploy state decisions and state.json / history.jsonl parsing (ghosttasks.records.state_store), by exact output."""

import dataclasses
import json

import pytest

from ghosttasks.domain.deploy_state import ColorState, DeployState, Intent
from ghosttasks.domain.revision_graph import RevisionGraph
from ghosttasks.records.history import parse_history_lines

T1, T2, T3 = "2026-11-28T20:00:00Z", "2026-11-29T09:30:00Z", "2026-11-30T12:00:00Z"
#: v1.2.1 ships a merge: 0002 and bbbb2222 both on aaaa1111, merged by cccc3333 (ids of any shape)
MERGED = {"aaaa1111": [], "bbbb2222": ["aaaa1111"], "0002_side": ["aaaa1111"], "cccc3333": ["bbbb2222", "0002_side"]}
PIN = "127.0.0.20:5000/ghostworks-api@sha256:1111111111111111111111111111111111111111111111111111111111111111"


def serving(active="green", previous="blue") -> DeployState:
    """Green serves v1.1.0 (head bbbb2222), blue still holds v1.0.0 (head aaaa1111)."""
    return DeployState(
        active=active,
        previous=previous,
        colors={"blue": ColorState("v1.0.0", "aaaa1111", T1), "green": ColorState("v1.1.0", "bbbb2222", T2)},
        version_heads={"v1.0.0": "aaaa1111", "v1.1.0": "bbbb2222"},
        updated_at=T2,
    )


# -- ColorState.runs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("color", "runs"),
    [
        (ColorState(), None),
        (ColorState("v1.0.0", "aaaa1111", T1), "v1.0.0"),
        (ColorState("v1.0.0", "aaaa1111", T1, failed_version="v1.2.0"), None),
        (ColorState(None, None, None, failed_version="v1.2.0"), None),
    ],
)
def test_color_runs(color, runs):
    assert color.runs == runs


# -- idle --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("active", "idle"), [(None, "blue"), ("blue", "green"), ("green", "blue")])
def test_idle_is_the_colour_not_serving_and_blue_first(active, idle):
    assert DeployState(active=active).idle == idle


def test_a_fresh_state_has_both_colours_empty():
    state = DeployState()
    assert state.active is None and state.previous is None and state.updated_at is None
    assert state.colors == {"blue": ColorState(), "green": ColorState()}
    assert state.version_heads == {}


def test_fresh_states_do_not_share_their_colours():
    first, second = DeployState(), DeployState()
    first.colors["blue"].version = "v1.0.0"
    assert second.colors["blue"].version is None


# -- after_deploy ------------------------------------------------------------------------------


def test_the_first_deploy_goes_into_blue():
    state = DeployState()
    state.after_deploy(state.idle, "v1.0.0", "aaaa1111", T1)
    assert state == DeployState(
        active="blue",
        previous=None,
        colors={"blue": ColorState("v1.0.0", "aaaa1111", T1), "green": ColorState()},
        version_heads={"v1.0.0": "aaaa1111"},
        deployed=["v1.0.0"],
    )


def test_a_deploy_records_the_versions_images_in_its_colour_and_the_deploy_order():
    state = serving()
    state.deployed = ["v1.0.0", "v1.1.0"]
    state.record_images("v1.2.0", {"api": PIN})
    state.after_deploy("blue", "v1.2.0", "cccc3333", T3)
    assert state.colors["blue"].images == {"api": PIN}
    assert state.version_images == {"v1.2.0": {"api": PIN}}
    state.after_deploy("green", "v1.0.0", "aaaa1111", T3)  # a rollback to an earlier version moves it last
    assert state.deployed == ["v1.1.0", "v1.2.0", "v1.0.0"]
    assert state.colors["green"].images == {}


def test_a_deploy_into_the_idle_colour_keeps_the_old_one_as_previous():
    state = serving()
    state.after_deploy("blue", "v1.2.0", "cccc3333", T3)
    assert state.active == "blue" and state.previous == "green"
    assert state.colors == {"blue": ColorState("v1.2.0", "cccc3333", T3), "green": ColorState("v1.1.0", "bbbb2222", T2)}
    assert state.version_heads == {"v1.0.0": "aaaa1111", "v1.1.0": "bbbb2222", "v1.2.0": "cccc3333"}
    assert state.updated_at == T2  # the Store stamps it when it saves


def test_a_good_deploy_clears_the_colours_failed_version():
    state = serving()
    state.mark_failed("blue", "v1.2.0")
    state.after_deploy("blue", "v1.2.1", "cccc3333", T3)
    assert state.colors["blue"] == ColorState("v1.2.1", "cccc3333", T3, failed_version=None)
    assert state.colors["blue"].runs == "v1.2.1"


def test_a_deploy_without_a_known_head_records_no_version_head():
    state = serving()
    state.after_deploy("blue", "v1.2.0", None, T3)
    assert state.colors["blue"] == ColorState("v1.2.0", None, T3)
    assert "v1.2.0" not in state.version_heads


def test_a_redeploy_without_a_head_keeps_the_head_known_for_that_version():
    state = serving()
    state.after_deploy("blue", "v1.0.0", None, T3)
    assert state.version_heads["v1.0.0"] == "aaaa1111"


def test_a_redeploy_with_a_new_head_replaces_it():
    state = serving()
    state.after_deploy("blue", "v1.0.0", "dddd4444", T3)
    assert state.version_heads["v1.0.0"] == "dddd4444"


def test_a_deploy_into_the_serving_colour_keeps_previous():
    state = serving()
    state.after_deploy("green", "v1.1.1", "bbbb2222", T3)
    assert (state.active, state.previous) == ("green", "blue")
    assert state.colors["green"] == ColorState("v1.1.1", "bbbb2222", T3)


# -- learn_graph -------------------------------------------------------------------------------


def test_learning_a_graph_records_it_and_its_head():
    state = serving()
    state.learn_graph("v1.2.0", RevisionGraph.linear(("aaaa1111", "bbbb2222", "cccc3333")))
    assert state.version_graphs == {"v1.2.0": {"aaaa1111": [], "bbbb2222": ["aaaa1111"], "cccc3333": ["bbbb2222"]}}
    assert state.version_heads["v1.2.0"] == "cccc3333"
    assert state.version_heads["v1.0.0"] == "aaaa1111"


def test_a_merge_is_recorded_with_its_down_revisions():
    state = DeployState()
    merged = {"0001_init": [], "0002_a": ["0001_init"], "0003_b": ["0001_init"], "0004_m": ["0002_a", "0003_b"]}
    state.learn_graph("v2.0.0", RevisionGraph.of(merged))
    assert state.version_graphs == {"v2.0.0": merged}
    assert state.version_heads == {"v2.0.0": "0004_m"}
    assert DeployState.from_json(state.to_json()) == state


def test_a_graph_learned_again_replaces_the_old_one():
    state = DeployState()
    state.learn_graph("v1.0.0", RevisionGraph.linear(["aaaa1111"]))
    state.learn_graph("v1.0.0", RevisionGraph.linear(["aaaa1111", "eeee5555"]))
    assert state.version_graphs == {"v1.0.0": {"aaaa1111": [], "eeee5555": ["aaaa1111"]}}
    assert state.version_heads == {"v1.0.0": "eeee5555"}


def test_an_empty_graph_is_known_to_ship_no_revision():
    state = DeployState()
    state.learn_graph("v1.0.0", RevisionGraph({}))
    assert (state.version_graphs, state.version_heads) == ({"v1.0.0": {}}, {})


def test_a_state_file_of_the_previous_version_loads_its_chains_as_linear_graphs():
    """state.json as ghosttasks wrote it before graphs (version_chains, base first) still loads."""
    old = '{"version_chains": {"v1.0.0": ["aaaa1111"], "v1.1.0": ["aaaa1111", "bbbb2222"]}, "version_heads": {}}'
    state = DeployState.from_json(old)
    assert state.version_graphs == {"v1.0.0": {"aaaa1111": []}, "v1.1.0": {"aaaa1111": [], "bbbb2222": ["aaaa1111"]}}
    assert "version_chains" not in state.to_json()
    both = '{"version_chains": {"v1.0.0": ["aaaa1111"]}, "version_graphs": {"v1.0.0": {"cccc3333": []}}}'
    assert DeployState.from_json(both).version_graphs == {"v1.0.0": {"cccc3333": []}}, "a graph wins over a chain"


# -- after_switch ------------------------------------------------------------------------------


def test_a_switch_to_the_other_colour():
    state = serving()
    state.after_switch("blue")
    assert (state.active, state.previous) == ("blue", "green")
    assert state.colors == serving().colors


def test_a_switch_to_the_serving_colour_changes_nothing():
    state = serving()
    state.after_switch("green")
    assert state == serving()


def test_switching_back_and_forth():
    state = serving()
    state.after_switch("blue")
    state.after_switch("green")
    assert (state.active, state.previous) == ("green", "blue")


def test_a_switch_on_a_fresh_state():
    state = DeployState()
    state.after_switch("green")
    assert (state.active, state.previous) == ("green", None)


# -- mark_failed -------------------------------------------------------------------------------


def test_a_failed_deploy_poisons_only_its_colour():
    state = serving()
    state.mark_failed("blue", "v1.2.0")
    assert state.colors["blue"] == ColorState("v1.0.0", "aaaa1111", T1, failed_version="v1.2.0")
    assert state.colors["blue"].runs is None
    assert state.colors["green"] == ColorState("v1.1.0", "bbbb2222", T2)
    assert (state.active, state.previous) == ("green", "blue")
    assert state.version_heads == serving().version_heads


def test_a_second_failure_names_the_latest_failed_version():
    state = serving()
    state.mark_failed("blue", "v1.2.0")
    state.mark_failed("blue", "v1.2.1")
    assert state.colors["blue"].failed_version == "v1.2.1"


# -- state.json --------------------------------------------------------------------------------


def every_field() -> DeployState:
    """A state with every field set to something other than its default."""
    return DeployState(
        active="blue",
        previous="green",
        colors={
            "blue": ColorState("v1.2.1", "cccc3333", T3, failed_version=None, images={"api": PIN}),
            "green": ColorState("v1.1.0", "bbbb2222", T2, failed_version="v1.2.0"),
        },
        version_heads={"v1.0.0": "aaaa1111", "v1.1.0": "bbbb2222", "v1.2.1": "cccc3333"},
        version_graphs={"v1.1.0": {"aaaa1111": [], "bbbb2222": ["aaaa1111"]}, "v1.2.1": MERGED},
        database_revision="cccc3333",
        version_images={"v1.2.1": {"api": PIN}},
        deployed=["v1.0.0", "v1.1.0", "v1.2.1"],
        intent=Intent("1a2b3c4d", "deploy.prod", T3, "green", "v1.3.0", replaces=True, fails_other=True),
        updated_at=T3,
    )


def test_the_every_field_state_really_sets_every_field():
    """A field added to DeployState or ColorState must be added to every_field() (and so to the round trip)."""
    state, fresh = every_field(), DeployState()
    for spec in dataclasses.fields(DeployState):
        assert getattr(state, spec.name) != getattr(fresh, spec.name), f"every_field() leaves {spec.name} default"
    for spec in dataclasses.fields(ColorState):
        values = [getattr(state.colors[color], spec.name) for color in ("blue", "green")]
        assert any(values), f"every_field() leaves ColorState.{spec.name} unset in both colours"


def test_to_json_exactly():
    assert json.loads(every_field().to_json()) == {
        "active": "blue",
        "previous": "green",
        "colors": {
            "blue": {
                "version": "v1.2.1",
                "alembic_head": "cccc3333",
                "deployed_at": T3,
                "failed_version": None,
                "images": {"api": PIN},
            },
            "green": {
                "version": "v1.1.0",
                "alembic_head": "bbbb2222",
                "deployed_at": T2,
                "failed_version": "v1.2.0",
                "images": {},
            },
        },
        "version_heads": {"v1.0.0": "aaaa1111", "v1.1.0": "bbbb2222", "v1.2.1": "cccc3333"},
        "version_graphs": {"v1.1.0": {"aaaa1111": [], "bbbb2222": ["aaaa1111"]}, "v1.2.1": MERGED},
        "database_revision": "cccc3333",
        "version_images": {"v1.2.1": {"api": PIN}},
        "deployed": ["v1.0.0", "v1.1.0", "v1.2.1"],
        "intent": {
            "run_id": "1a2b3c4d",
            "task": "deploy.prod",
            "since": T3,
            "color": "green",
            "version": "v1.3.0",
            "replaces": True,
            "fails_other": True,
        },
        "updated_at": T3,
    }


def test_to_json_is_one_line_with_sorted_keys():
    text = DeployState().to_json()
    assert text == (
        '{"active": null, "colors": {"blue": {"alembic_head": null, "deployed_at": null, "failed_version": null, '
        '"images": {}, "version": null}, "green": {"alembic_head": null, "deployed_at": null, "failed_version": null, '
        '"images": {}, "version": null}}, "database_revision": null, "deployed": [], "intent": null, "previous": null, '
        '"updated_at": null, "version_graphs": {}, "version_heads": {}, "version_images": {}}'
    )


@pytest.mark.parametrize("state", [DeployState(), serving(), every_field()], ids=["fresh", "serving", "every-field"])
def test_the_json_round_trip(state):
    again = DeployState.from_json(state.to_json())
    assert again == state
    assert again.to_json() == state.to_json()


def test_the_round_trip_keeps_every_field():
    again = DeployState.from_json(every_field().to_json())
    assert again.active == "blue"
    assert again.previous == "green"
    assert again.updated_at == T3
    assert again.version_heads == {"v1.0.0": "aaaa1111", "v1.1.0": "bbbb2222", "v1.2.1": "cccc3333"}
    assert again.version_graphs == {"v1.1.0": {"aaaa1111": [], "bbbb2222": ["aaaa1111"]}, "v1.2.1": MERGED}
    assert again.database_revision == "cccc3333"
    green = again.colors["green"]
    assert (green.version, green.alembic_head, green.deployed_at, green.failed_version) == (
        "v1.1.0",
        "bbbb2222",
        T2,
        "v1.2.0",
    )
    assert green.runs is None
    assert again.colors["blue"].runs == "v1.2.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", DeployState()),
        ('{"active": "green"}', DeployState(active="green")),
        ('{"colors": {}}', DeployState()),
        (
            '{"colors": {"green": {"version": "v1.1.0"}}}',
            DeployState(colors={"blue": ColorState(), "green": ColorState("v1.1.0")}),
        ),
        ('{"active": null, "previous": null}', DeployState()),
    ],
)
def test_missing_keys_read_as_defaults(text, expected):
    assert DeployState.from_json(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", ValueError),
        ("not json", ValueError),
        ('{"active": "blue"', ValueError),
        ("[]", ValueError),
        ('["blue", "green"]', ValueError),
        ('"blue"', ValueError),
        ("null", ValueError),
        ("42", ValueError),
        ('{"colors": []}', ValueError),
        ('{"colors": "blue"}', ValueError),
        ('{"colors": {"blue": {"version": "v1.0.0", "colour": "blue"}}}', TypeError),
        ('{"colors": {"blue": "v1.0.0"}}', TypeError),
        ('{"colors": {"green": null}}', TypeError),
        ('{"active": "purple"}', ValueError),
        ('{"previous": "purple"}', ValueError),
        ('{"active": "Blue"}', ValueError),
        ('{"active": ""}', ValueError),
        ('{"active": 1}', ValueError),
        ('{"version_heads": null}', TypeError),
        ('{"version_chains": {"v1.0.0": 5}}', ValueError),
        ('{"version_graphs": {"v1.0.0": ["aaaa1111"]}}', ValueError),
        ('{"version_graphs": {"v1.0.0": {"bbbb2222": ["aaaa1111"]}}}', ValueError),
        ('{"version_graphs": {"v1.0.0": {"a": ["b"], "b": ["a"]}}}', ValueError),
        ('{"version_graphs": null}', ValueError),
        ('{"version_images": {"v1.0.0": "sha256:1"}}', ValueError),
        ('{"version_images": []}', ValueError),
        ('{"deployed": "v1.0.0"}', ValueError),
        ('{"deployed": [1]}', ValueError),
    ],
)
def test_corrupt_state_is_refused(text, error):
    with pytest.raises(error):
        DeployState.from_json(text)


@pytest.mark.parametrize("chains", ["[]", "null", '"aaaa1111"'])
def test_version_chains_that_are_not_an_object_are_refused(chains):
    with pytest.raises((ValueError, TypeError)):
        DeployState.from_json(f'{{"version_chains": {chains}}}')


def test_a_chain_that_is_a_string_is_refused():
    with pytest.raises((ValueError, TypeError)):
        DeployState.from_json('{"version_chains": {"v1.0.0": "aaaa1111"}}')


def test_the_refusal_says_what_is_wrong():
    with pytest.raises(ValueError, match=r"^version_graphs.v1: revision b names down revision a, which is not in it$"):
        DeployState.from_json('{"version_graphs": {"v1": {"b": ["a"]}}}')
    with pytest.raises(ValueError, match=r"^active is 'purple', not blue or green$"):
        DeployState.from_json('{"active": "purple"}')
    with pytest.raises(ValueError, match=r"^previous is 'purple', not blue or green$"):
        DeployState.from_json('{"active": "blue", "previous": "purple"}')
    with pytest.raises(ValueError, match=r"^not a JSON object$"):
        DeployState.from_json("[]")
    with pytest.raises(ValueError, match=r"^colors is not an object$"):
        DeployState.from_json('{"colors": []}')


# -- history.jsonl -----------------------------------------------------------------------------


def lines(text):
    return [entry.to_dict() for entry in parse_history_lines(text)]


def test_history_lines_in_order():
    text = '{"task": "deploy.prod", "result": "ok"}\n{"task": "traffic.switch", "result": "failed"}\n'
    assert lines(text) == [
        {"task": "deploy.prod", "result": "ok"},
        {"task": "traffic.switch", "result": "failed"},
    ]


@pytest.mark.parametrize("text", ["", "\n", "   \n\n\t\n"])
def test_an_empty_history(text):
    assert lines(text) == []


def test_unreadable_lines_are_shown_as_such_with_their_line_number():
    text = '{"result": "ok"}\n{"result": "ok", "sec\n\n  \nnot json at all\n{"result": "failed"}'
    assert lines(text) == [
        {"result": "ok"},
        {"result": "unreadable", "line": 2},
        {"result": "unreadable", "line": 5},
        {"result": "failed"},
    ]


def test_history_with_windows_line_endings():
    assert lines('{"task": "a"}\r\n{"task": "b"}\r\n') == [{"task": "a"}, {"task": "b"}]


def test_a_json_line_that_is_not_an_object_is_unreadable():
    assert lines('{"result": "ok"}\n42\n["x"]\nnull\n') == [
        {"result": "ok"},
        {"result": "unreadable", "line": 2},
        {"result": "unreadable", "line": 3},
        {"result": "unreadable", "line": 4},
    ]
