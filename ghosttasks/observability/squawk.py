"""The squawk binary (PyPI squawk-cli): lint SQL text on the operator's machine, findings as its JSON reporter
prints them. The classification for a blue-green deploy is ghosttasks.decisions.migration_lint's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ghosttasks.domain.errors import OperationFailed

#: Rules the tool satisfies itself: every migration session gets lock_timeout and statement_timeout (PGOPTIONS).
EXCLUDED_RULES = ("require-lock-timeout", "require-statement-timeout")
TIMEOUT_SECONDS = 60


def binary() -> str:
    """The squawk executable installed with ghosttasks (next to its Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if not found:
        raise OperationFailed(
            "squawk is not installed: the pending migration cannot be linted",
            hint="pip install 'squawk-cli>=2.70,<3' (a dependency of ghosttasks)",
        )
    return found


def argv(program: str, filename: str) -> list[str]:
    """squawk over stdin with the JSON reporter; `filename` names the SQL in its findings."""
    return [program, "--reporter", "json", "--stdin-filepath", filename, "--exclude", ",".join(EXCLUDED_RULES)]


def lint(sql: str, filename: str = "migration.sql") -> list[dict]:
    """squawk's findings for `sql` (exit 1 with findings, 0 without; anything else is squawk failing)."""
    try:
        result = subprocess.run(
            argv(binary(), filename), input=sql, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationFailed(f"squawk could not lint the migration: {exc}") from None
    if result.returncode not in (0, 1):
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise OperationFailed(f"squawk failed (exit {result.returncode}): {detail[0] if detail else 'no output'}")
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise OperationFailed(f"squawk printed no JSON: {result.stdout[:200]!r}") from None
    return findings if isinstance(findings, list) else []
