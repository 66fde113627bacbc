"""The benchmarks' table and target logic, on made-up samples (no sshd, no network, no timing)."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

benchlib = pytest.importorskip("benchlib")
fanout = pytest.importorskip("fanout")


def test_markdown_table_pads_columns_and_keeps_cells():
    text = benchlib.markdown_table(["tool", "N=1"], [["ghosttasks", "0.150"], ["pssh", None]])
    assert text.splitlines() == [
        "| tool       | N=1   |",
        "|------------|-------|",
        "| ghosttasks | 0.150 |",
        "| pssh       |       |",
    ]


def test_markdown_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="expected 2"):
        benchlib.markdown_table(["a", "b"], [["only one"]])


def test_formatting_helpers():
    assert benchlib.median([3.0, 1.0, 2.0]) == 2.0
    assert benchlib.median([]) is None
    assert benchlib.ratio(1.0, 0.0) is None
    assert benchlib.fmt_x(benchlib.ratio(3.0, 2.0)) == "1.50x"
    assert benchlib.fmt_ms(0.0123) == "12.3"
    assert benchlib.fmt_s(None) == "-"
    assert [benchlib.verdict(v) for v in (True, False, None)] == ["met", "NOT met", "n/a"]


def test_fanout_report_judges_the_issue_targets(capsys):
    samples = {
        "ghosttasks": {1: [0.20, 0.21, 0.22], 40: [0.70, 0.72, 0.90]},
        "fabric": {1: [0.19, 0.20, 0.21], 40: [0.50, 0.52, 0.55]},
        "ansible": {1: [1.0], 40: [8.0]},
        "pssh": {1: [0.3], 40: [2.0]},
    }
    summary = fanout.report(samples, [1, 40])
    verdicts = {target["target"]: target["met"] for target in summary["targets"]}
    assert verdicts == {
        "within 1.2x of raw Fabric at every N": False,  # 0.72 / 0.52 = 1.38x at N=40
        "N=40 under 0.8 s": True,
        ">= 10x faster than Ansible defaults at N=40": True,  # 8.0 / 0.72
        ">= 2.5x faster than pssh at N=40": True,  # 2.0 / 0.72
    }
    printed = capsys.readouterr().out
    assert "| ghosttasks / raw Fabric (target <= 1.2x)" in printed
    assert "1.38x" in printed


def test_fanout_report_without_n40_leaves_those_targets_unjudged():
    summary = fanout.report({"ghosttasks": {1: [0.2]}, "fabric": {1: [0.2]}}, [1])
    verdicts = [target["met"] for target in summary["targets"]]
    assert verdicts == [True, None, None, None]
