"""Startup: `inv --list` here against bare Invoke listing an empty collection, and `inv --help deploy.prod`.

    python bench/startup.py                # 15 interleaved runs of each command
    python bench/startup.py --repeat 5

Runs the real `inv` script of this interpreter (not a pyenv shim), from the repository root; bare Invoke
runs in a temporary directory holding an empty tasks.py. Target: `inv --list` at most 1.5x bare Invoke
(medians). Also shows the slowest imports of the task collection (python -X importtime). Writes
bench/results/startup-<stamp>.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ROOT,
    fmt_ms,
    fmt_x,
    machine_info,
    median,
    print_table,
    ratio,
    stop_on_signals,
    verdict,
    write_results,
)

TARGET = 1.5
TIMEOUT = 60.0


def inv_binary() -> str:
    """The `inv` console script installed next to this Python (bypasses pyenv's shell shims)."""
    candidate = Path(sys.executable).parent / "inv"
    return str(candidate) if candidate.exists() else (shutil.which("inv") or "inv")


def timed(argv: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> float:
    """Wall time of one command (output discarded); fails loudly on an unexpected exit code."""
    begin = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - begin
    if result.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode()[-800:]}")
    return elapsed


def slowest_imports(limit: int = 15) -> list[tuple[str, float, float]]:
    """(module, self s, cumulative s) of what tasks.py adds on top of Invoke's own imports (depth <= 3)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import invoke.main; import tasks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    rows: list[tuple[str, float, float]] = []
    after_invoke = False
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if not after_invoke:
            after_invoke = depth == 0 and name.strip() == "invoke.main"
            continue
        if depth <= 3:
            rows.append(("· " * depth + name.strip(), int(own) / 1e6, int(cumulative) / 1e6))
    return sorted(rows, key=lambda row: row[2], reverse=True)[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command (median), default 15")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 200:
        parser.error("repeat must be 1-200")
    stop_on_signals()
    info = machine_info()
    print(f"startup benchmark, {info['date_utc']}, {info['cpus']} CPUs, load {info['loadavg']}", flush=True)
    inv = inv_binary()
    empty = Path(tempfile.mkdtemp(prefix="ghosttasks-bench-empty-"))
    try:
        (empty / "tasks.py").write_text("")
        library = empty / "library"
        library.mkdir()
        (library / "tasks.py").write_text("from ghosttasks import namespace as ns\n")
        commands: dict[str, tuple[list[str], Path, tuple[int, ...]]] = {
            "python -c pass (interpreter only)": ([sys.executable, "-c", "pass"], ROOT, (0,)),
            "bare Invoke: inv --list, empty tasks.py": ([inv, "--list"], empty, (1,)),  # 'No tasks found', exit 1
            "ghosttasks: inv --list": ([inv, "--list"], ROOT, (0,)),
            "ghosttasks without lab/ (installed use): inv --list": ([inv, "--list"], library, (0,)),
            "ghosttasks: inv --help deploy.prod": ([inv, "--help", "deploy.prod"], ROOT, (0,)),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for argv, cwd, codes in commands.values():  # warm-up: page cache, .pyc files
            timed(argv, cwd, codes)
        names = list(commands)
        for round_ in range(args.repeat):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                argv, cwd, codes = commands[name]
                samples[name].append(timed(argv, cwd, codes))
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    medians = {name: median(values) for name, values in samples.items()}
    bare = medians["bare Invoke: inv --list, empty tasks.py"]
    rows = [
        [
            name,
            fmt_ms(medians[name], 0),
            fmt_ms(min(values), 0),
            fmt_ms(max(values), 0),
            fmt_x(ratio(medians[name], bare)),
        ]
        for name, values in samples.items()
    ]
    columns = ["command", "median ms", "min ms", "max ms", "vs bare Invoke"]
    tables = [
        print_table(f"Wall time of {args.repeat} interleaved runs (`{inv}`, cwd = repository root)", columns, rows)
    ]
    listing = ratio(medians["ghosttasks: inv --list"], bare)
    targets = [
        [f"inv --list <= {TARGET:g}x bare Invoke", fmt_x(listing), verdict(listing is not None and listing <= TARGET)]
    ]
    tables.append(print_table("Target (issue 5)", ["target", "measured", "verdict"], targets))
    imports = slowest_imports()
    import_rows = [[name, fmt_ms(own), fmt_ms(cumulative)] for name, own, cumulative in imports]
    import_columns = ["module", "self ms", "cumulative ms"]
    title = "Imports tasks.py adds to Invoke's (one run, -X importtime, depth <= 3)"
    tables.append(print_table(title, import_columns, import_rows))
    info["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    path = write_results(
        "startup",
        {
            "benchmark": "startup",
            "machine": info,
            "inv": inv,
            "repeat": args.repeat,
            "samples": samples,
            "medians": medians,
            "imports": [{"module": name, "self": own, "cumulative": cum} for name, own, cum in imports],
            "targets": [{"target": t, "measured": m, "met": v == "met"} for t, m, v in targets],
            "tables": tables,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
