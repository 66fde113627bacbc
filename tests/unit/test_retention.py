"""Retention decisions (ghosttasks.decisions.retention) by exact output and over the state space (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ghosttasks.decisions.migration_plan import plan_rollback
from ghosttasks.decisions.retention import colour_versions, image_names_to_remove, keep_set, recency, to_remove
from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.domain.revisions import Knowledge, Refused

VERSIONS = [f"v1.{minor}.0" for minor in range(8)]
REG = "127.0.0.20:5000/ghostworks-api"
PIN = {v: f"{REG}@sha256:{str(i) * 64}" for i, v in enumerate(VERSIONS)}


def state_of(blue=None, green=None, active=None, deployed=(), failed=None) -> DeployState:
    state = DeployState(active=active, deployed=list(deployed))
    state.colors = {"blue": ColorState(blue), "green": ColorState(green, failed_version=failed)}
    state.version_images = {v: {"api": PIN[v]} for v in VERSIONS}
    return state


def test_keeps_both_colours_and_the_last_n_and_removes_the_rest_least_recent_first():
    state = state_of("v1.0.0", "v1.5.0", "green", deployed=VERSIONS[:6])
    assert keep_set(state, 2, VERSIONS[:6]) == {"v1.0.0", "v1.4.0", "v1.5.0"}
    assert to_remove(state, 2, VERSIONS[:6]) == ["v1.1.0", "v1.2.0", "v1.3.0"]


def test_a_failed_deploys_version_stays_while_its_containers_exist():
    state = state_of("v1.0.0", "v1.1.0", "blue", deployed=["v1.0.0", "v1.1.0"], failed="v1.2.0")
    assert colour_versions(state) == {"v1.0.0", "v1.1.0", "v1.2.0"}
    assert to_remove(state, 1, ["v1.0.0", "v1.1.0", "v1.2.0"]) == []


def test_versions_from_before_the_recorded_order_are_older_than_every_recorded_one_by_release_order():
    state = state_of("v1.6.0", "v1.7.0", "green", deployed=["v1.6.0", "v1.7.0"])
    assert recency(state, ["v1.3.0", "v1.2.0", "v1.7.0"]) == [
        "v1.2.0",
        "v1.3.0",
        "v1.6.0",
        "v1.7.0",
    ]
    assert to_remove(state, 3, ["v1.2.0", "v1.3.0", "v1.6.0", "v1.7.0"]) == ["v1.2.0"]


def test_a_pin_a_kept_version_shares_is_never_removed():
    state = state_of("v1.2.0", "v1.3.0", "green", deployed=["v1.1.0", "v1.2.0", "v1.3.0"])
    state.version_images["v1.1.0"] = {"api": PIN["v1.2.0"]}  # v1.1.0 and v1.2.0: the same bytes
    present = {f"{REG}:v1.1.0", PIN["v1.2.0"], f"{REG}:v1.2.0", "ghostworks-api:v1.1.0"}
    names = image_names_to_remove(state, ["v1.1.0"], ["v1.2.0", "v1.3.0"], ["ghostworks-api", REG], present)
    assert names == ["127.0.0.20:5000/ghostworks-api:v1.1.0", "ghostworks-api:v1.1.0"]


def test_only_names_the_host_has_are_removed():
    state = state_of("v1.2.0", "v1.3.0", "green", deployed=VERSIONS[:4])
    names = image_names_to_remove(state, ["v1.0.0"], ["v1.2.0", "v1.3.0"], ["ghostworks-api"], {PIN["v1.0.0"]})
    assert names == [PIN["v1.0.0"]]


states = st.builds(
    state_of,
    blue=st.none() | st.sampled_from(VERSIONS),
    green=st.none() | st.sampled_from(VERSIONS),
    active=st.none() | st.sampled_from(["blue", "green"]),
    deployed=st.lists(st.sampled_from(VERSIONS), unique=True),
    failed=st.none() | st.sampled_from(VERSIONS),
)


@settings(max_examples=400, deadline=None)
@given(state=states, keep=st.integers(1, 6), present=st.sets(st.sampled_from(VERSIONS)))
def test_no_state_loses_a_colour_a_rollback_target_or_one_of_the_last_n(state, keep, present):
    removed = set(to_remove(state, keep, present))
    assert removed <= present
    assert not removed & colour_versions(state)
    assert not removed & set(state.deployed[-keep:])
    known = Knowledge.of_chains({v: ("aaaa1111",) for v in VERSIONS})
    try:
        plan = plan_rollback(state, known, "aaaa1111", to=None, db_rev=None)
    except Refused:  # nothing to roll back to in this state: nothing to protect
        return
    assert plan.version not in removed
