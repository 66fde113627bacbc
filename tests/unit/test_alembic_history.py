"""Alembic histories as alembic models them: the revision reader's JSON (commands/alembic.READER, alembic's own
ScriptDirectory) parsed into a graph, exactly, for any revision ids, branch and merge points in the past; several
heads refused by name; output that is no graph is never "no migrations". The fixtures are real: made by
tests/unit/alembic_fixtures/make_fixtures.sh with alembic 1.20.1 (`alembic init`, `alembic revision --rev-id`,
`alembic merge`), and the reader itself is run here against a scratch project when this Python has alembic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ghosttasks.commands import alembic
from ghosttasks.domain.revision_graph import RevisionGraph
from ghosttasks.domain.revisions import (
    GRAPH_MARKER,
    Knowledge,
    Refused,
    one_head,
    parse_revision_graph,
    resolve_revision,
)

FIXTURES = Path(__file__).parent / "alembic_fixtures"
MERGED = {
    "0001_init": (),
    "0002_orders": ("0001_init",),
    "0003_customers": ("0001_init",),
    "0004_merge": ("0002_orders", "0003_customers"),
    "0005_status": ("0004_merge",),
}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_a_history_with_a_branch_point_and_a_merge_point_is_read_exactly():
    history = parse_revision_graph(fixture("merged.graph.txt"))
    assert dict(history.graph.parents) == MERGED
    assert history.graph.heads() == ("0005_status",)
    assert history.graph.ordered() == ("0001_init", "0002_orders", "0003_customers", "0004_merge", "0005_status")
    assert history.messages == {
        "0001_init": "init",
        "0002_orders": "orders",
        "0003_customers": "customers",
        "0004_merge": "merge orders and customers",
        "0005_status": "orders status",
    }


def test_the_demo_apps_hex_chain_is_read_exactly():
    history = parse_revision_graph(fixture("demo.graph.txt"))
    assert history.graph == RevisionGraph.linear(["0001a1b2c3d4", "0002b2c3d4e5", "0003c3d4e5f6", "0005e5f6a7b8"])
    assert history.messages["0005e5f6a7b8"] == "Artifact descriptions."


def test_several_heads_are_refused_naming_them():
    with pytest.raises(ValueError) as refused:
        parse_revision_graph(fixture("two_heads.graph.txt"))
    assert str(refused.value) == (
        "the history has several heads 0002_orders, 0003_customers: merge the heads first: alembic merge heads"
    )


def test_an_empty_script_directory_is_alembic_saying_no_migrations():
    assert fixture("empty.history.txt") == ""
    history = parse_revision_graph(fixture("empty.graph.txt"))
    assert (len(history.graph), history.messages) == (0, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the alembic revision reader printed nothing"),
        (fixture("merged.history.txt"), "printed no revision graph (first line: '0004_merge -> 0005_status (head)"),
        ("Traceback (most recent call last):\n  x\n", "printed no revision graph (first line: 'Traceback"),
        (f"{GRAPH_MARKER} {{not json", "is not its JSON"),
        (f'{GRAPH_MARKER} {{"heads": []}}', "is not its JSON"),
        (
            f'{GRAPH_MARKER} {{"heads": ["x y"], "revisions": [{{"revision": "x y", "down_revisions": []}}]}}',
            "revision id 'x y' is not one ghosttasks can pass on",
        ),
        (
            f'{GRAPH_MARKER} {{"heads": ["b"], "revisions": [{{"revision": "b", "down_revisions": ["a"]}}]}}',
            "revision b names down revision a, which is not in it",
        ),
        (
            f'{GRAPH_MARKER} {{"heads": ["a"], "revisions": [{{"revision": "b", "down_revisions": []}}]}}',
            "alembic names head a but the revisions end at b",
        ),
    ],
)
def test_output_that_is_no_graph_is_an_error_never_no_migrations(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_revision_graph(text)


def test_the_database_after_a_downgrade_below_the_merge_is_what_the_planner_predicts():
    """merged.database.txt is what alembic really did to a database: the planner's model must agree with it."""
    said = dict(line.split(": ", 1) for line in fixture("merged.database.txt").splitlines())
    known = Knowledge({"v": RevisionGraph.of(MERGED)})
    assert said["downgrade 0002_orders"] == "0002_orders 0003_customers"
    assert known.left_behind("0005_status", "0002_orders") == ("0003_customers",)
    assert said["downgrade 0001_init"] == "0001_init"
    assert known.left_behind("0004_merge", "0001_init") == ()
    assert said["downgrade -1"].startswith("FAILED: Ambiguous walk")
    with pytest.raises(Refused, match="crosses 0004_merge, which merges 0002_orders, 0003_customers: name the"):
        resolve_revision("-1", "0004_merge", known, head_of="v")
    with pytest.raises(Refused, match=r"the database is at two heads 0002_orders, 0003_customers \(a downgrade"):
        one_head(tuple(said["downgrade 0002_orders"].split()))
    assert one_head(()) is None and one_head(("0004_merge",)) == "0004_merge"


def test_ancestry_not_ids_orders_revisions():
    known = Knowledge({"v": RevisionGraph.of(MERGED)})
    assert known.order("0005_status", "0003_customers") == 1
    assert known.order("0002_orders", "0004_merge") == -1
    assert known.order("0002_orders", "0003_customers") is None
    assert known.unrelated("0002_orders", "0003_customers")
    assert not known.unrelated("0002_orders", "0005_status")
    assert known.at_or_after("0004_merge", "0003_customers")
    assert not known.at_or_after("0002_orders", "0003_customers")
    assert known.single_head_below("0005_status", "0002_orders") == "0001_init"


@pytest.mark.parametrize(
    ("spec", "current", "expected"),
    [
        ("0003_customers", "0001_init", "0003_customers"),
        ("0003", None, "0003_customers"),
        ("head", "0002_orders", "0005_status"),
        ("-1", "0005_status", "0004_merge"),
        ("-1", "0003_customers", "0001_init"),
        ("+1", "0004_merge", "0005_status"),
        ("0005_status-1", None, "0004_merge"),
        ("+1", None, "0001_init"),
    ],
)
def test_steps_follow_the_one_path(spec, current, expected):
    known = Knowledge({"v": RevisionGraph.of(MERGED)})
    assert resolve_revision(spec, current, known, head_of="v") == expected


@pytest.mark.parametrize(
    ("spec", "current", "message"),
    [
        ("-2", "0005_status", "-2 from 0005_status crosses 0004_merge, which merges 0002_orders, 0003_customers"),
        ("+1", "0001_init", "+1 from 0001_init crosses 0001_init, where 0002_orders, 0003_customers branch"),
        ("+1", "0002_orders", "+1 from 0002_orders reaches 0004_merge, which also merges 0003_customers"),
        ("+1", "0005_status", "beyond the newest known head"),
        ("-2", "0001_init", "below the base"),
    ],
)
def test_steps_across_a_branch_or_merge_are_refused(spec, current, message):
    known = Knowledge({"v": RevisionGraph.of(MERGED)})
    with pytest.raises(Refused, match=re.escape(message)):
        resolve_revision(spec, current, known, head_of="v")


@pytest.mark.parametrize(
    ("program", "python", "expected"),
    [
        ("alembic", None, ["python3", "-c", alembic.READER, "", "alembic"]),
        ("python3 -m alembic", None, ["python3", "-c", alembic.READER, "", "alembic"]),
        (
            "/opt/venv/bin/python -m alembic -c db/alembic.ini",
            None,
            ["/opt/venv/bin/python", "-c", alembic.READER, "db/alembic.ini", "alembic"],
        ),
        (
            "alembic --config=deploy.ini --name tenants",
            "python3.12",
            ["python3.12", "-c", alembic.READER, "deploy.ini", "tenants"],
        ),
        (
            "poetry run alembic -n db2",
            "poetry run python",
            ["poetry", "run", "python", "-c", alembic.READER, "", "db2"],
        ),
    ],
)
def test_the_reader_runs_with_the_apps_python_and_config(program, python, expected):
    assert alembic.graph_reader(program, python) == expected


def _project(root: Path) -> Path:
    """A scratch alembic project: 0001_init, 0002_orders and 0003_customers from 0001, merged by 0004_merge."""
    import alembic.command as command
    import alembic.config as config_mod

    project = root / "proj"
    project.mkdir()
    ini = project / "deploy.ini"
    config = config_mod.Config(str(ini))
    config.set_main_option("script_location", str(project / "migrations"))
    command.init(config, str(project / "migrations"))
    config = config_mod.Config(str(ini))
    command.revision(config, "init", rev_id="0001_init")
    command.revision(config, "orders", rev_id="0002_orders")
    command.revision(config, "customers", rev_id="0003_customers", head="0001_init", splice=True)
    command.merge(config, ["0002_orders", "0003_customers"], message="merge", rev_id="0004_merge")
    return project


def test_the_reader_program_reads_a_real_script_directory(tmp_path):
    project = _project(tmp_path)
    argv = alembic.graph_reader("alembic -c deploy.ini", sys.executable)
    done = subprocess.run(argv, cwd=project, capture_output=True, text=True, check=True)
    history = parse_revision_graph(done.stdout)
    assert dict(history.graph.parents) == {k: v for k, v in MERGED.items() if k != "0005_status"}
    assert history.messages["0004_merge"] == "merge"
    row = json.loads(done.stdout.split(" ", 1)[1])["revisions"][0]
    assert (row["revision"], row["is_head"]) == ("0004_merge", True)


def test_the_reader_fails_loudly_without_a_config(tmp_path):
    done = subprocess.run(alembic.graph_reader("alembic", sys.executable), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and GRAPH_MARKER not in done.stdout
    with pytest.raises(ValueError, match="printed nothing"):
        parse_revision_graph(done.stdout)
