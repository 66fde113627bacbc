"""Hints name the command the user typed: `inv` from a checkout, `ghost` while the installed command runs."""

import io
import json
import sys

import pytest
from rich.console import Console

from ghosttasks.domain.audit import HistoryEntry
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.terminal.command_name import as_typed, typed, typed_as
from ghosttasks.terminal.output import Output
from ghosttasks.terminal.summary import render_summary
from ghosttasks.testing import ScriptedExecutor, a_run, prod


@pytest.mark.parametrize(
    ("text", "as_ghost"),
    [
        ("release it: inv deploy.unlock --env prod --force", "release it: ghost deploy.unlock --env prod --force"),
        (
            "see inv deploy.status, then inv traffic.switch <colour>",
            "see ghost deploy.status, then ghost traffic.switch <colour>",
        ),
        ("run `inv traffic.install --env prod` first", "run `ghost traffic.install --env prod` first"),
        ("hint: inv db.upgrade -r 0003_add", "hint: ghost db.upgrade -r 0003_add"),
        ("see its options: inv --help deploy.prod; the tasks: inv --list", None),
        # not a command to type: left as it is
        ("invalid inventory: invoke.yaml names inv", None),
        ("the inv file inv.py", None),
        ("reinv deploy.status", None),
        ("/usr/local/bin/inv deploy.status", None),
        ("my-inv deploy.status", None),
    ],
)
def test_inv_naming_a_task_becomes_the_typed_command(text, as_ghost):
    expected = as_ghost or text.replace("inv --", "ghost --")
    with typed_as("ghost"):
        assert as_typed(text) == expected
    assert as_typed(text) == text


def test_typed_as_is_undone_after_its_block_even_on_an_error():
    assert typed() == "inv"
    with pytest.raises(RuntimeError), typed_as("ghost"):
        assert typed() == "ghost"
        raise RuntimeError
    assert typed() == "inv"


def test_every_printed_line_names_the_typed_command():
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stream=stdout, err_stream=stderr)
    with typed_as("ghost"):
        out.warn("workers not moved: app1 unreachable; when the app hosts answer: inv traffic.switch blue")
        out.error("error: prod is locked\nnext: inv deploy.unlock --env prod --force")
        out.host_line("app1", "smoke: see inv deploy.status")  # a host's own output: printed as it came
    out.info("next: inv deploy.status --env prod")
    assert stdout.getvalue() == (
        "warn workers not moved: app1 unreachable; when the app hosts answer: ghost traffic.switch blue\n"
        "[app1] smoke: see inv deploy.status\n"
        "next: inv deploy.status --env prod\n"
    )
    assert stderr.getvalue() == "error: prod is locked\nnext: ghost deploy.unlock --env prod --force\n"


def test_the_summarys_next_command_names_the_typed_command():
    entry = HistoryEntry(result="ok", color="green", previous_color="blue", version="v1.1.0", previous_version="v1.0.0")
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    with typed_as("ghost"):
        console.print(render_summary("deploy.prod", "prod", entry, "/tmp/run.log"))
    assert console.export_text().splitlines()[-1] == (
        "next:         ghost deploy.rollback --env prod   (back to v1.0.0 on blue if v1.1.0 misbehaves)"
    )


def test_the_recorded_command_line_is_the_one_typed(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/ghost", "traffic.switch", "green", "--yes"])
    run = a_run(ScriptedExecutor(prod()), task="traffic.switch")
    with typed_as("ghost"):
        assert run.identity()["command"] == "ghost traffic.switch green --yes"
    assert run.identity()["command"] == "inv traffic.switch green --yes"


def test_an_errors_hint_names_the_typed_command(inv, monkeypatch):
    def refused(run, reason):
        raise OperationFailed("prod is locked by a deploy", hint="inv deploy.unlock --env prod --force")

    monkeypatch.setattr("ghosttasks.flows.holds.hold", refused)
    with typed_as("ghost"):
        code, _, err = inv("deploy.lock", "--reason", "db maintenance")
    assert (code, err.splitlines()) == (
        1,
        ["error: prod is locked by a deploy", "next: ghost deploy.unlock --env prod --force"],
    )


def test_json_reports_name_the_typed_command_in_their_strings():
    stdout = io.StringIO()
    report = {"lb": {"problem": "repair with inv traffic.switch <colour> --env prod"}, "hosts": ["app1"], "n": 2}
    with typed_as("ghost"):
        Output(stream=stdout).json(report)
    assert json.loads(stdout.getvalue()) == {
        "lb": {"problem": "repair with ghost traffic.switch <colour> --env prod"},
        "hosts": ["app1"],
        "n": 2,
    }


def test_an_errors_details_are_the_hosts_lines_as_they_came(capsys):
    from ghosttasks.tasks import runtime

    with typed_as("ghost"):
        runtime._print_error(
            "error: smoke failed: see inv stack.logs api",
            "inv deploy.status --env prod",
            ["last lines of app1: ./smoke.sh: run inv deploy.status"],
        )
    assert capsys.readouterr().err.splitlines() == [
        "error: smoke failed: see ghost stack.logs api",
        "last lines of app1: ./smoke.sh: run inv deploy.status",
        "next: ghost deploy.status --env prod",
    ]
