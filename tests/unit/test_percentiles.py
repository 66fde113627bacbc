"""The one p95 helper (ghosttasks.decisions.percentiles), by exact value."""

import pytest

from ghosttasks.decisions.percentiles import p95


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([0.25], 0.25),
        ([3], 3.0),
        ([1.0, 2.0], 1.95),
        ([2.0, 1.0], 1.95),  # order does not matter
        ([0.5, 0.5], 0.5),
        (list(range(1, 21)), 19.05),
        (list(range(20, 0, -1)), 19.05),
        (list(range(1, 101)), 95.05),
        ([0.1] * 19 + [5.0], 0.1 + 0.05 * 4.9),  # one slow request of twenty barely moves it
        ([0.1] * 18 + [5.0, 5.0], 5.0),  # two of twenty do
    ],
)
def test_p95(durations, expected):
    assert p95(durations) == pytest.approx(expected, rel=1e-12)


def test_a_single_value_is_returned_as_a_float():
    value = p95([3])
    assert value == 3.0 and isinstance(value, float)


def test_it_accepts_a_tuple_and_does_not_reorder_the_input():
    durations = [3.0, 1.0, 2.0]
    assert p95(tuple(durations)) == pytest.approx(2.9)
    assert durations == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("empty", [[], ()])
def test_no_durations_raise(empty):
    with pytest.raises(ValueError, match="no durations"):
        p95(empty)
