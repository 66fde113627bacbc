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


def test_targets_table_judges_medians_and_writes_between_the_markers(tmp_path, monkeypatch):
    targets = pytest.importorskip("targets")
    start = {
        "python -c pass": [0.02] * 3,
        "ghost --list": [0.20, 0.21, 0.40],  # median 0.21: met
        "ghost --help deploy.prod": [0.30, 0.31, 0.32],  # not met
        "ghost deploy.prod --dry-run": [0.5, 0.5, 0.9],
    }
    lab = {
        "switch": [0.9, 0.95, 1.2],
        "switch_lb": [0.4, None, 0.45],  # one run never saw the LB move
        "emergency": [0.6, 0.65, 0.8],
        "emergency_lb": [0.3, 0.3, 0.3],
        "emergency_two_lbs": [0.9, 1.1, 1.2],  # median 1.1: not met
        "emergency_two_lbs_lb": [0.35, 0.4, None],
        "deploy": [5.0, 5.5],
    }
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in targets.table(start, lab).splitlines()}
    assert rows["`ghost --list` < 0.25 s"] == "met"
    assert rows["`ghost --help deploy.prod` < 0.25 s"] == "NOT met"
    assert rows["`traffic.switch`: the LB on the new colour < 0.5 s after the start"] == "met"  # median of the 2 seen
    assert rows["`deploy.emergency-rollback` whole command < 1.0 s (two LBs)"] == "NOT met"
    assert rows["`deploy.emergency-rollback` whole command < 0.7 s (one LB)"] == "met"
    assert "(runs where the LB never answered from the target, 5 s after)" in rows
    doc = tmp_path / "performance.md"
    doc.write_text(f"# title\n{targets.BEGIN}\nold\n{targets.END}\n## next\n")
    monkeypatch.setattr(targets, "DOC", doc)
    targets.write_doc("| a |", "conditions")
    assert doc.read_text() == f"# title\n{targets.BEGIN}\nconditions\n\n| a |\n{targets.END}\n## next\n"
