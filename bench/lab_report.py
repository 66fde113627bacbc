"""lab_bench.py's results: where the time of a command goes, the timings against the 1 s target, the summary
written to bench/results/lab.json and the Markdown tables of docs/performance.md."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from benchlib import fmt_s, median, print_table, verdict
from lab_load import CLIENT_KINDS

MODES = {
    "flag": "flag file (as shipped)",
    "reload": "nginx -s reload (the switch before 87785e1)",
}
TIMED = ("traffic.switch", "deploy.emergency-rollback")
TARGET_S = 1.0


def step_name(name: str) -> str:
    """A history step name without its colour ('health check green' -> 'health check <colour>')."""
    return re.sub(r"\b(blue|green)\b", "<colour>", name)


def time_breakdown(commands: list[dict[str, Any]], imports_s: float) -> dict[str, Any]:
    """Median seconds of each part of the whole command (the parts of one run add up to its wall time):

    - interpreter start + imports, measured apart (interpreter_and_imports);
    - outside the guarded block: Invoke, inventory, SSH to the LB, lock take, then history, lock release,
      notification, closing: whole - the history entry's `seconds` - imports;
    - between the steps, inside the block (traffic.switch: the database revision read again, state saved):
      `seconds` - the steps;
    - each history step.
    """
    steps: dict[str, list[float]] = {}
    outside, between, totals = [], [], []
    for item in commands:
        history = item.get("history") or {}
        recorded = history.get("steps", [])
        for step in recorded:
            steps.setdefault(step_name(step["name"]), []).append(step["seconds"])
        totals.append(item["seconds"])
        if history.get("seconds") is not None:
            outside.append(item["seconds"] - history["seconds"] - imports_s)
            between.append(history["seconds"] - sum(step["seconds"] for step in recorded))
    remote_kinds = sorted({kind for item in commands for kind in item.get("remote", {})})
    remote = {kind: median(item.get("remote", {}).get(kind, 0.0) for item in commands) for kind in remote_kinds}
    return {
        "whole_s": median(totals),
        "interpreter_and_imports_s": imports_s,
        "outside_block_s": median(outside),
        "between_steps_s": median(between),
        "steps_s": {name: median(values) for name, values in steps.items()},
        "remote_s": remote,
    }


def timing(commands: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    """Median and max of one timing over commands (None where it was not seen)."""
    values = [item[key] for item in commands]
    seen = [value for value in values if value is not None]
    return {
        "median": median(seen),
        "max": max(seen) if seen else None,
        "runs": len(values),
        "missing": len(values) - len(seen),
    }


def under_target(item: dict[str, Any]) -> dict[str, bool | None]:
    """Whether the median and every run (max) are under the target; None when not measured."""
    if item["median"] is None:
        return {"median": None, "every run": None}
    return {"median": item["median"] < TARGET_S, "every run": item["missing"] == 0 and item["max"] < TARGET_S}


def summarise(phases: dict[str, dict[str, Any]], imports_s: float) -> dict[str, Any]:
    """Failed requests per kind and mode, the timings and their verdicts, and where the time goes."""
    summary: dict[str, Any] = {"clients": {}, "timings": {}, "time_breakdown": {}, "targets": {}}
    for mode, phase in phases.items():
        summary["clients"][mode] = {
            kind: {"requests": stats["requests"], "failed": stats["failed"], "failures": dict(stats["failures"])}
            for kind, stats in phase["clients"].items()
        }
        for task in TIMED:
            runs = [item for item in phase["commands"] if item["task"] == task]
            lb, whole = timing(runs, "lb_answers_s"), timing(runs, "seconds")
            summary["timings"].setdefault(task, {})[mode] = {
                "lb_answers_s": {**lb, "under_1s": under_target(lb)},
                "whole_s": {**whole, "under_1s": under_target(whole)},
            }
            summary["time_breakdown"].setdefault(task, {})[mode] = time_breakdown(runs, imports_s)
    for mode in phases:
        clients = summary["clients"][mode].values()
        failed, requests = sum(c["failed"] for c in clients), sum(c["requests"] for c in clients)
        target = {"target": "0 failed requests for every client kind", "measured": f"{failed} of {requests}"}
        summary["targets"].setdefault(target["target"], {})[mode] = {
            **target,
            "met": {"every kind": all(c["failed"] == 0 for c in clients)},
        }
        for task in TIMED:
            for what, label in (("lb_answers_s", "until the LB answers from the new colour"), ("whole_s", "whole")):
                item = summary["timings"][task][mode][what]
                name = f"{task} < 1 s, {label}"
                summary["targets"].setdefault(name, {})[mode] = {
                    "target": name,
                    "measured": f"{fmt_s(item['median'])} / {fmt_s(item['max'])}",
                    "met": item["under_1s"],
                }
    return summary


def print_report(summary: dict[str, Any], phases: dict[str, dict[str, Any]]) -> None:
    """The Markdown tables of docs/performance.md."""
    modes = [mode for mode in MODES if mode in phases]
    rows = []
    for kind, label in CLIENT_KINDS.items():
        row = [label]
        for mode in modes:
            client = summary["clients"][mode][kind]
            types = ", ".join(f"{name} {count}" for name, count in sorted(client["failures"].items()))
            row.append(f"{client['failed']} / {client['requests']}" + (f" ({types})" if types else ""))
        rows.append(row)
    clients = {mode: phases[mode]["clients"] for mode in modes}
    rows += [
        ["(retries the retrying httpx client needed)", *(clients[m]["keepalive_retry"]["retried"] for m in modes)],
        ["(connections the http.client GET / POST clients opened)"]
        + [f"{clients[m]['raw_get']['connections']} / {clients[m]['raw_post']['connections']}" for m in modes],
        ["(nginx reloads during the phase, from its error log)", *(phases[m].get("nginx_reloads") for m in modes)],
    ]
    print_table(
        "Failed / requests per client kind (target 0 for every kind)",
        ["client kind", *(f"{MODES[mode]}" for mode in modes)],
        rows,
    )
    rows = []
    for task in TIMED:
        for mode in modes:
            item = summary["timings"][task][mode]
            lb, whole = item["lb_answers_s"], item["whole_s"]
            rows.append(
                [
                    f"`{task}` ({lb['runs']})",
                    mode,
                    f"{fmt_s(lb['median'])} / {fmt_s(lb['max'])}",
                    f"{fmt_s(whole['median'])} / {fmt_s(whole['max'])}",
                    ", ".join(verdict(lb["under_1s"][w]) for w in ("median", "every run")),
                    ", ".join(verdict(whole["under_1s"][w]) for w in ("median", "every run")),
                ]
            )
    print_table(
        "Seconds, median / max (target < 1 s each; verdicts: median, every run)",
        ["command (runs)", "switch", "LB answers from the new colour", "whole command", "LB verdict", "whole verdict"],
        rows,
    )
    columns = [(task, mode) for task in TIMED for mode in modes]
    header = [f"{'switch' if task == 'traffic.switch' else 'emergency'} {mode}" for task, mode in columns]
    breakdowns = [summary["time_breakdown"][task][mode] for task, mode in columns]
    names = list(dict.fromkeys(name for item in breakdowns for name in item["steps_s"]))
    rows = [
        ["interpreter start + imports (measured apart)", *(fmt_s(b["interpreter_and_imports_s"]) for b in breakdowns)],
        ["outside the guarded block: Invoke, inventory, SSH to the LB, lock, history, notify, exit"]
        + [fmt_s(b["outside_block_s"]) for b in breakdowns],
        ["inside the block, between the steps (switch: database revision again, save state)"]
        + [fmt_s(b["between_steps_s"]) for b in breakdowns],
    ]
    rows += [[f"step: {name}", *(fmt_s(b["steps_s"].get(name)) for b in breakdowns)] for name in names]
    rows.append(["whole command", *(fmt_s(b["whole_s"]) for b in breakdowns)])
    print_table("Where the time goes: median seconds per part (history steps of each run)", ["part", *header], rows)
    kinds = list(dict.fromkeys(kind for item in breakdowns for kind in item["remote_s"]))
    rows = [[kind, *(f"{(b['remote_s'].get(kind) or 0) * 1000:.1f}" for b in breakdowns)] for kind in kinds]
    print_table(
        "Remote commands by kind, median ms per run: their durations summed (run logs)",
        ["remote command", *header],
        rows,
    )
    rows = []
    for mode in modes:
        for item in phases[mode]["commands"]:
            if item["task"] in ("deploy.prod", "deploy.rollback"):
                rows.append([f"`{item['task']}`", mode, fmt_s(item["lb_answers_s"]), fmt_s(item["seconds"])])
    if rows:
        columns = ["command", "switch", "LB answers from the new colour", "whole command"]
        print_table("The other commands of the sequence (one run each), seconds", columns, rows)
    rows = []
    for name, per_mode in summary["targets"].items():
        row = [name]
        for mode in modes:
            item = per_mode[mode]
            row += [item["measured"], ", ".join(f"{which} {verdict(ok)}" for which, ok in item["met"].items())]
        rows.append(row)
    columns = [column for mode in modes for column in (f"{mode}: measured (median / max)", f"{mode}: verdict")]
    print_table("Targets (issue 11); the shipped switch is the flag one", ["target", *columns], rows)
    for mode in modes:
        during = Counter(
            (kind, failure["during"].split()[0], failure["what"])
            for kind, stats in phases[mode]["clients"].items()
            for failure in stats["failure_log"]
        )
        if during:
            rows = [[CLIENT_KINDS[kind], task, what, count] for (kind, task, what), count in sorted(during.items())]
            print_table(
                f"{mode} switch: failures by the command running at the time",
                ["client kind", "during", "failure", "count"],
                rows,
            )


def print_deploy_steps(phases: dict[str, dict[str, Any]], version: str) -> dict[str, Any] | None:
    """The step timings of the flag phase's deploy.prod (docs/performance.md, section 6)."""
    deploys = [item for item in phases.get("flag", {}).get("commands", []) if item["task"] == "deploy.prod"]
    if not deploys or not deploys[-1].get("history"):
        return None
    history = deploys[-1]["history"]
    print_table(
        f"deploy.prod {version}, steps in order (total {history['seconds']:.1f} s)",
        ["step", "seconds"],
        [[step["name"], f"{step['seconds']:.2f}"] for step in history["steps"]],
    )
    return history
