"""`alembic history` as alembic 1.x prints it, for ids that are not hex (sequential, as `--rev-id` makes them):
every revision is read, a merge point is refused by name, and output that is no history is never
"no migrations". The texts are real: `alembic history` of a project made with `alembic revision --rev-id`."""

import pytest

from ghosttasks.domain.revisions import Knowledge, parse_alembic_history, parse_messages, resolve_revision

SEQUENTIAL = """\
0002_orders -> 0003_orders_status (head), orders status
0001_init -> 0002_orders, orders
<base> -> 0001_init, init
"""

MERGED = """\
0003_orders_status, 0003b_other -> 0004_merge (head) (mergepoint), merge
0002_orders -> 0003_orders_status, orders status
0002_orders -> 0003b_other, other branch
0001_init -> 0002_orders (branchpoint), orders
<base> -> 0001_init, init
"""


def test_sequential_ids_are_read_to_the_head():
    assert parse_alembic_history(SEQUENTIAL) == ("0001_init", "0002_orders", "0003_orders_status")
    assert parse_messages(SEQUENTIAL) == {
        "0003_orders_status": "orders status",
        "0002_orders": "orders",
        "0001_init": "init",
    }


def test_a_merge_point_is_refused_naming_it_never_skipped():
    with pytest.raises(ValueError, match=r"revision 0004_merge merges 0003_orders_status,0003b_other: a history with"):
        parse_alembic_history(MERGED)


@pytest.mark.parametrize("text", ["INFO  [alembic] something else\n", "Traceback (most recent call last):\n  x\n"])
def test_output_with_no_revision_in_it_is_an_error_not_no_migrations(text):
    with pytest.raises(ValueError, match="printed no revision that could be read"):
        parse_alembic_history(text)


def test_an_empty_history_ships_no_migrations():
    assert parse_alembic_history("") == ()


def test_such_ids_and_steps_from_them_resolve():
    known = Knowledge({"v2.3.0": parse_alembic_history(SEQUENTIAL)})
    assert resolve_revision("0003_orders_status", "0002_orders", known, head_of="v2.3.0") == "0003_orders_status"
    assert resolve_revision("0003_orders_status-1", None, known, head_of="v2.3.0") == "0002_orders"
    assert resolve_revision("-1", "0003_orders_status", known, head_of="v2.3.0") == "0002_orders"
    assert resolve_revision("0003", "0002_orders", known, head_of="v2.3.0") == "0003_orders_status"
